"""Face data for the fusion environments: photos -> aligned square face canvases with
landmarks, keypoints and soft masks, cached on disk.

    from envs.faces import load_faces
    faces = load_faces()                    # the ~100 faces shipped in skimage/matplotlib
    faces = load_faces("photos/")           # any folder of jpg/png/webp/bmp, cached
    train = faces.split("train")

CLI: python -m envs.faces prepare SRC --out CACHE_DIR ; python -m envs.faces show CACHE_DIR
"""
from .api import load_faces, prepare
from .faceset import FaceDataError, FaceSet

__all__ = ["FaceDataError", "FaceSet", "load_faces", "prepare"]

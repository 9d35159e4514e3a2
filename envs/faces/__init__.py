"""Face data for the fusion environments: photos -> aligned square face canvases with
landmarks, keypoints and soft masks, cached on disk in shards and memory-mapped when opened.

    from envs.faces import load_faces
    faces = load_faces()                    # the ~100 faces shipped in skimage/matplotlib
    faces = load_faces("photos/")           # any folder of jpg/png/webp/bmp, cached
    faces = load_faces("faces_cache/")      # a cache written by `prepare` (any size: mapped)
    train = faces.split("train")

CLI: python -m envs.faces prepare SRC --out CACHE_DIR [--workers N | --address auto]
     python -m envs.faces show CACHE_DIR
(`--address` builds shards as Ray tasks: the optional `distributed` module, the only one
that imports Ray.)
"""

from .api import load_faces, prepare
from .faceset import FaceDataError, FaceSet

__all__ = ["FaceDataError", "FaceSet", "load_faces", "prepare"]

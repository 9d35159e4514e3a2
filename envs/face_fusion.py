"""FaceFusionEnv: move and scale a segmented source face onto its ground-truth place."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs import fusion
from envs.augment import Augmentation
from envs.faces import FaceSet, load_faces
from envs.faces.split import HELDOUT_FRACTION, VALIDATION_FRACTION

UP, DOWN, LEFT, RIGHT, GROW, SHRINK, STOP = range(7)
ACTION_NAMES = ("up", "down", "left", "right", "grow", "shrink", "stop")
# The action that does in the left-right mirror image what each action does here: the rules
# are mirror-symmetric (rewards depend on error magnitudes, the canvas and the clamping are
# symmetric), so a transition seen mirrored, with left and right swapped, is a true one.
# Learners may use it to augment replay (agents.replay's `mirror_actions`).
MIRROR_ACTIONS = (UP, DOWN, RIGHT, LEFT, GROW, SHRINK, STOP)
MODES = ("self", "swap")

RealismFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class Placement:
    """Current displacement of the source face from its ground-truth place, in canvas
    pixels (`dx`, `dy`: shift of the face centre) and as a scale factor (`scale`)."""

    dx: float
    dy: float
    scale: float


class FaceFusionEnv(gym.Env):
    """
    ## Description

    A segmented source face is laid over a target photo, displaced and mis-scaled. The agent
    shifts and scales it until it sits where it belongs, then says stop. This is active
    object localisation with RL (shift/scale actions plus a trigger, reward = improvement)
    applied to face compositing.

    Two ground truths (`mode`):

    * `"self"`: source and target are the same photo; the face was cut out with its mask and
      displaced, so the ground truth is its true place, exactly.
    * `"swap"`: the source face comes from another photo; the ground truth is the similarity
      transform that aligns the source's eyes, nose and mouth keypoints to the target's.

    Every face is stored on a square canvas (default 256 px; see `envs.faces`); the
    observation is that canvas reduced to `obs_size`.

    ## Action Space

    `Discrete(7)`:

    | Num | Action | Effect |
    |-----|--------|--------|
    | 0 | up     | face centre moves up by `shift_step` x face size |
    | 1 | down   | face centre moves down by the same |
    | 2 | left   | face centre moves left |
    | 3 | right  | face centre moves right |
    | 4 | grow   | face scale x `scale_step` about its current centre |
    | 5 | shrink | face scale / `scale_step` |
    | 6 | stop   | end the episode and be judged |

    ## Observation Space

    `Box(0, 255, (obs_size, obs_size, 3), uint8)`, channels-last:

    * channel 0: the target photo (luminance), what the face must be aligned to;
    * channel 1: the current composite (luminance): source face pasted at its current place;
    * channel 2: the source face's alpha mask at its current place.

    With `landmarks=True`, `Box(0, 255, (obs_size, obs_size, 5), uint8)`: two more channels,

    * channel 3: the target's five facial keypoints (eyes, nose tip, mouth corners) as dots;
    * channel 4: the source's five keypoints at its current place, as dots.

    Target and composite side by side let a CNN see the misalignment (in `self` mode the
    pasted face lines up with the face beneath it exactly at the goal); the mask says where
    the moving piece is. In `swap` mode the goal is the keypoint fit between two different
    faces, which the pixels show only loosely (another identity never lines up); the keypoint
    channels show the quantity the goal is defined by (BENCHMARKS.md, "Swap"). Luminance is
    enough for placement and keeps the observation small;
    colour matters for realism, which `render()` and the realism hook see in full RGB.

    ## Rewards

    With the error `E = position_error / shift_step_px + |log scale| / log(scale_step)`
    (the number of ideal moves left):

    * each move: `progress_weight * (E_before - E_after) - step_cost` (positive when the move
      helped, so standing still or undoing a move never pays), minus `hover_cost` for a move
      made while already within tolerance (once in place, stopping is the only good action;
      without it, hovering costs almost nothing against the discounted stop bonus);
    * `stop` within tolerance (`position_error_px <= position_tolerance_px` at observation
      scale and `scale_error <= scale_tolerance`): `+stop_bonus`; outside: `-stop_penalty`;
    * with a realism hook: `+ realism_weight * (realism_after - realism_before)`, the change of
      the critic's probability-of-real of the fused face crop (as in Learning to Paint), so it
      cannot be farmed by standing still. Scores are memoised per episode by placement (moves
      lie on a lattice, so a policy that backtracks or hovers revisits placements): the hook
      must be deterministic, as `detectors.Realism` is; pass `realism_cache=False` otherwise.

    ## Starting State

    A target face (and in `swap` mode a source face of another photo) is drawn from the face
    set, then an initial displacement: offset uniform in `[-max_offset, max_offset]` x face
    size per axis and scale log-uniform in `[1 - max_scale_change, 1 + max_scale_change]`,
    redrawn if it already lies within tolerance. With `aligned_start_prob` > 0 (a training
    curriculum, off by default) that fraction of episodes starts within half a step of the
    goal, so the agent meets "in place, now stop" early. With `augment` (training only, off by
    default) each episode sees its photos through random camera settings (`envs.augment`). `reset(options=...)` accepts `target`,
    `source` (face indices), `offset` (dx, dy as fractions of face size) and `scale` to fix them.

    ## Episode End

    Terminates on `stop`. Truncates after `max_episode_steps` (50 in the registered ids).
    Moves that would push the face centre off the canvas or the scale out of
    `[0.5, 2]` are clamped.

    ## Info

    `position_error_px` (observation pixels), `scale_error` (|scale - 1|), `iou` (face boxes),
    `within_tolerance` (the face is in place now), `stopped` (this step was `stop`),
    `success` (stopped within tolerance: only a stop can succeed; hovering at the right place
    until truncation does not), `target`, `source`, `realism` (with a hook).

    ## Arguments

    `faces` ("default", a cache dir, an image folder or a FaceSet), `split` ("train",
    "validation", "heldout" or "all": disjoint parts by file name, see `envs.faces.split`;
    `heldout_fraction`, `validation_fraction` and `split_seed` set them), `mode`, `obs_size`, `shift_step`, `scale_step`, `max_offset`,
    `max_scale_change`, tolerances, reward weights, `realism_fn` (callable taking uint8
    `(N, S, S, 3)` crops, returning N probabilities of real; S is the callable's
    `image_size` attribute if it has one, as `detectors.Realism` does, else 32), `realism_weight`,
    `realism_cache` (memoise scores per episode by placement; default on), `landmarks` (add the
    keypoint channels; default off), `blend`
    ("paste", "color", "seamless") for `render()`, `render_mode` ("rgb_array").

    ## Version History

    * v0: initial version.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}
    stop_action = STOP  # the action that ends an episode by choice (agents.greedy stops loops with it)
    mirror_actions = MIRROR_ACTIONS

    def __init__(
        self,
        faces: str | FaceSet = "default",
        split: str = "train",
        mode: str = "self",
        obs_size: int = fusion.OBS_SIZE,
        shift_step: float = 0.04,
        scale_step: float = 1.04,
        max_offset: float = fusion.MAX_OFFSET,
        max_scale_change: float = fusion.MAX_SCALE_CHANGE,
        position_tolerance_px: float = fusion.POSITION_TOLERANCE_PX,
        scale_tolerance: float = fusion.SCALE_TOLERANCE,
        progress_weight: float = 0.1,
        step_cost: float = 0.01,
        hover_cost: float = 0.05,
        stop_bonus: float = 1.0,
        stop_penalty: float = 1.0,
        realism_fn: RealismFn | None = None,
        realism_weight: float = 0.0,
        realism_cache: bool = True,
        aligned_start_prob: float = 0.0,
        augment: bool | dict = False,
        landmarks: bool = False,
        blend: str = "paste",
        heldout_fraction: float = HELDOUT_FRACTION,
        validation_fraction: float = VALIDATION_FRACTION,
        split_seed: int = 0,
        render_mode: str | None = None,
    ):
        self._check_arguments(
            mode, blend, render_mode, obs_size, scale_step, shift_step, realism_weight, realism_fn, aligned_start_prob
        )
        self.faces = self._select_faces(faces, split, mode, heldout_fraction, validation_fraction, split_seed)
        self.mode, self.split, self.blend, self.render_mode = mode, split, blend, render_mode
        self.obs_size = int(obs_size)
        self.canvas = int(self.faces.images.shape[1])
        self.k = self.obs_size / self.canvas  # canvas px -> observation px
        self.shift_step, self.scale_step = float(shift_step), float(scale_step)
        self.max_offset, self.max_scale_change = float(max_offset), float(max_scale_change)
        self.position_tolerance_px, self.scale_tolerance = float(position_tolerance_px), float(scale_tolerance)
        self.progress_weight, self.step_cost = float(progress_weight), float(step_cost)
        self.hover_cost = float(hover_cost)
        self.stop_bonus, self.stop_penalty = float(stop_bonus), float(stop_penalty)
        self.realism_fn, self.realism_weight = realism_fn, float(realism_weight)
        self.realism_cache = bool(realism_cache)
        self.realism_size = int(getattr(realism_fn, "image_size", fusion.CROP_SIZE))
        self._realism_memo: dict[tuple[float, float, float], float] = {}
        self.aligned_start_prob = float(aligned_start_prob)
        self.augmentation = Augmentation.from_config(augment)
        self.landmarks = bool(landmarks)

        self.action_space = spaces.Discrete(len(ACTION_NAMES))
        channels = 5 if self.landmarks else 3
        self.observation_space = spaces.Box(0, 255, (self.obs_size, self.obs_size, channels), np.uint8)
        # Luminance and masks at observation scale: mapped from the cache if `prepare` stored this
        # size, else computed on first use, keeping the 4096 most recently used (~14 KB each at 84 px).
        self._obs_cache: dict[int, np.ndarray] = {}
        self._obs_cache_faces = 4096
        self._episode_target = np.zeros((self.obs_size, self.obs_size), np.uint8)
        self._episode_source = np.zeros((self.obs_size, self.obs_size, 2), np.uint8)
        self._episode_target_dots = np.zeros((self.obs_size, self.obs_size), np.uint8)
        self.target_index = self.source_index = 0
        self.placement = Placement(0.0, 0.0, 1.0)
        self._gt = np.eye(2, 3)
        self._gt_box = np.zeros(4)
        self._center = np.zeros(2)
        self._face_px = 1.0
        self._realism = None
        self._rgba = None
        self._photo_ids = None
        self._crop_frame = None

    def _check_arguments(
        self, mode, blend, render_mode, obs_size, scale_step, shift_step, realism_weight, realism_fn, aligned_start_prob
    ) -> None:
        """Every argument error names the argument, its value and what is expected."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if blend not in fusion.BLENDS:
            raise ValueError(f"blend must be one of {fusion.BLENDS}, got {blend!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None")
        if obs_size < 32:
            raise ValueError(f"obs_size must be >= 32, got {obs_size}")
        if not scale_step > 1.0:
            raise ValueError(f"scale_step must be > 1, got {scale_step}")
        if not 0.0 < shift_step < 1.0:
            raise ValueError(f"shift_step must be in (0, 1), got {shift_step}")
        if realism_weight and realism_fn is None:
            raise ValueError("realism_weight > 0 needs a realism_fn (e.g. detectors.Realism)")
        if not 0.0 <= aligned_start_prob <= 1.0:
            raise ValueError(f"aligned_start_prob must be in [0, 1], got {aligned_start_prob}")

    @staticmethod
    def _select_faces(faces, split, mode, heldout_fraction, validation_fraction, split_seed) -> FaceSet:
        """The faces of `split`; errors name what is missing."""
        face_set = load_faces(faces) if not isinstance(faces, FaceSet) else faces
        subset = face_set.split(
            split, heldout_fraction=heldout_fraction, seed=split_seed, validation_fraction=validation_fraction
        )
        if len(subset) == 0:
            raise ValueError(
                f"split={split!r} of {len(face_set)} faces is empty (heldout_fraction="
                f"{heldout_fraction}, validation_fraction={validation_fraction}); use more photos "
                f"or split='all'"
            )
        if mode == "swap" and len(set(subset.files)) < 2:
            raise ValueError("swap mode needs faces from at least two photos")
        return subset

    # ---- geometry -------------------------------------------------------------------------
    def _obs_pair_of(self, index: int) -> np.ndarray:
        """Face `index` at observation scale: (obs, obs, 2) uint8 luminance and mask (read from
        the cache when `prepare` stored this size, else computed: `envs.faces.observe`)."""
        return self.faces.obs_pair(index, self.obs_size)

    def _face_obs(self, index: int) -> np.ndarray:
        """Face `index` at observation scale (luminance, mask), as the episode starts from."""
        if self.obs_size in self.faces.obs:  # stored in the cache: a read-only view of shared pages
            return self._obs_pair_of(index)
        pair = self._obs_cache.pop(index, None)
        if pair is None:
            pair = self._obs_pair_of(index)
            if len(self._obs_cache) >= self._obs_cache_faces:
                del self._obs_cache[next(iter(self._obs_cache))]  # least recently used
        self._obs_cache[index] = pair  # (re)inserted last: dicts keep insertion order
        return pair

    def _ground_truth(self, target: int, source: int) -> np.ndarray:
        if source == target:
            return fusion.ground_truth(None, None)
        return fusion.ground_truth(self.faces.keypoints[source], self.faces.keypoints[target])

    def current_matrix(self) -> np.ndarray:
        """Canvas transform from the source face's canvas to the target canvas, now: the
        ground truth followed by the displacement (scale about the face centre, then shift)."""
        p = self.placement
        return fusion.displaced(self._gt, self._center, p.scale, (p.dx, p.dy))

    def position_error_px(self) -> float:
        return math.hypot(self.placement.dx, self.placement.dy) * self.k

    def scale_error(self) -> float:
        return float(abs(self.placement.scale - 1.0))

    def error(self) -> float:
        """Error in ideal moves: shift steps plus scale steps still to go."""
        p = self.placement
        return math.hypot(p.dx, p.dy) / (self.shift_step * self._face_px) + abs(math.log(p.scale)) / math.log(
            self.scale_step
        )

    def within_tolerance(self) -> bool:
        return self.position_error_px() <= self.position_tolerance_px and self.scale_error() <= self.scale_tolerance

    def _current_box(self) -> np.ndarray:
        # the displacement has no rotation, so it maps the ground-truth box to the current one
        p, (cx, cy) = self.placement, self._center
        x0, y0, x1, y1 = self._gt_box
        return np.array(
            [
                (x0 - cx) * p.scale + cx + p.dx,
                (y0 - cy) * p.scale + cy + p.dy,
                (x1 - cx) * p.scale + cx + p.dx,
                (y1 - cy) * p.scale + cy + p.dy,
            ]
        )

    def iou(self) -> float:
        a, b = self._current_box(), self._gt_box
        iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = iw * ih
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return float(inter / union) if union > 0 else 0.0

    # ---- rendering --------------------------------------------------------------------------
    def _observation(self) -> np.ndarray:
        m = self.current_matrix()
        m[:, 2] *= self.k  # the same transform in observation pixels
        # one warp moves face luminance and mask together (2-channel image)
        warped = cv2.warpAffine(
            self._episode_source,
            m,
            (self.obs_size, self.obs_size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        target = self._episode_target
        alpha = warped[..., 1]
        obs = np.empty(self.observation_space.shape, np.uint8)
        obs[..., 0] = target
        obs[..., 1] = fusion.alpha_composite(target, warped[..., 0], alpha)
        obs[..., 2] = alpha
        if self.landmarks:
            obs[..., 3] = self._episode_target_dots
            obs[..., 4] = fusion.keypoint_dots(
                fusion.apply(m, self.faces.keypoints[self.source_index] * self.k), self.obs_size
            )
        return obs

    def fused_image(self, blend: str | None = None) -> np.ndarray:
        """The full-size fused RGB image at the current placement."""
        t, s = self.target_index, self.source_index
        return fusion.fuse(
            self.faces.images[t],
            self.faces.images[s],
            self.faces.masks[s],
            self.current_matrix(),
            blend or self.blend,
            target_mask=self.faces.masks[t],
        )

    def realism_crop(self, size: int | None = None) -> np.ndarray:
        """The crop around the ground-truth face that the realism critic scores, `size` px
        (default `realism_size`, the hook's own; another size is for scoring with a
        different critic, as `agents.evaluate --detector` does)."""
        if self._rgba is None:  # this episode's face and mask as one 4-channel image: one warp per step
            self._rgba = np.dstack([self.faces.images[self.source_index], self.faces.masks[self.source_index]])
        rgba = self._rgba
        if size is not None and size != self.realism_size:
            target = fusion.face_crop(self.faces.images[self.target_index], self._gt_box, size)
            return fusion.pasted_crop(target, rgba, self.current_matrix(), self._gt_box)
        if self._crop_frame is None:  # once per episode, on first use
            crop = fusion.crop_matrix(self._gt_box, self.realism_size)
            center = tuple(float(v) for v in fusion.apply(crop, self._center[None])[0])
            target = fusion.face_crop(self.faces.images[self.target_index], self._gt_box, self.realism_size)
            self._crop_frame = (target, fusion.compose(crop, self._gt), center, float(crop[0, 0]))
        target, crop_gt, center, k = self._crop_frame
        # crop frame C is a uniform scale k and a shift, so C . displaced(G, c, s, d) ==
        # displaced(C . G, C(c), s, k d): the per-episode C . G is only displaced here
        p = self.placement
        return fusion.paste(target, rgba, fusion.displaced(crop_gt, center, p.scale, (k * p.dx, k * p.dy)))

    def _score_realism(self) -> float | None:
        if self.realism_fn is None:
            return None
        p = self.placement
        # rounding absorbs float drift from undone moves (+s then -s); 1e-4 px is far below a pixel
        key = (round(p.dx, 4), round(p.dy, 4), round(p.scale, 6))
        score = self._realism_memo.get(key) if self.realism_cache else None
        if score is None:
            score = float(np.asarray(self.realism_fn(self.realism_crop()[None]))[0])
            if self.realism_cache:
                self._realism_memo[key] = score
        return score

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        image = np.ascontiguousarray(self.fused_image())
        for box, colour in ((self._gt_box, (0, 255, 0)), (self._current_box(), (255, 64, 64))):
            x0, y0, x1, y1 = np.round(box).astype(int)
            cv2.rectangle(image, (x0, y0), (x1, y1), colour, 1)
        return image

    # ---- gym API ----------------------------------------------------------------------------
    def _info(self, stopped: bool = False) -> dict[str, Any]:
        within = bool(self.within_tolerance())
        info = {
            "position_error_px": self.position_error_px(),
            "scale_error": self.scale_error(),
            "iou": self.iou(),
            "within_tolerance": within,
            "stopped": stopped,
            "success": stopped and within,
            "target": int(self.target_index),
            "source": int(self.source_index),
        }
        if self._realism is not None:
            info["realism"] = self._realism
        return info

    def _draw_faces(self) -> tuple[int, int]:
        n = len(self.faces)
        target = int(self.np_random.integers(n))
        if self.mode == "self":
            return target, target
        if self._photo_ids is None:  # faces of one photo share an id (large sets: no per-reset scan in Python)
            self._photo_ids = np.unique(np.asarray(self.faces.files, dtype=object), return_inverse=True)[1]
        others = np.flatnonzero(self._photo_ids != self._photo_ids[target])
        return target, int(others[self.np_random.integers(len(others))])

    def _draw_placement(self) -> Placement:
        if self.aligned_start_prob and self.np_random.random() < self.aligned_start_prob:
            # curriculum: start already in place, so "aligned => stop" is seen early in training
            half = 0.5 * self.shift_step * self._face_px
            dx, dy = self.np_random.uniform(-half, half, size=2)
            return Placement(float(dx), float(dy), 1.0)
        return Placement(
            *fusion.draw_displacement(  # tolerance from observation to canvas pixels
                self.np_random,
                self._face_px,
                self.position_tolerance_px / self.k,
                self.max_offset,
                self.max_scale_change,
                self.scale_tolerance,
            )
        )

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        target, source = self._draw_faces()
        target = int(options.get("target", target))
        source = int(options.get("source", target if self.mode == "self" else source))
        n = len(self.faces)
        if not (0 <= target < n and 0 <= source < n):
            raise ValueError(f"face index out of range: target={target}, source={source}, faces={n}")
        self.target_index, self.source_index = target, source
        self._gt = self._ground_truth(target, source)
        geometry = fusion.Geometry.of(self._gt, self.faces.boxes[source])
        self._gt_box, self._center, self._face_px = geometry.box, geometry.center, geometry.face_px
        self.placement = self._draw_placement()
        if "offset" in options:
            dx, dy = options["offset"]
            self.placement.dx, self.placement.dy = float(dx) * self._face_px, float(dy) * self._face_px
        if "scale" in options:
            self.placement.scale = float(options["scale"])
        self._crop_frame = self._rgba = None  # realism crop inputs of this episode, built on first use
        self._episode_target, self._episode_source = self._episode_images(target, source)
        if self.landmarks:
            self._episode_target_dots = fusion.keypoint_dots(self.faces.keypoints[target] * self.k, self.obs_size)
        self._realism_memo.clear()
        self._realism = self._score_realism()
        return self._observation(), self._info()

    def _episode_images(self, target: int, source: int) -> tuple[np.ndarray, np.ndarray]:
        """Target luminance and source (luminance, mask) at observation scale for this episode:
        the stored faces, or with `augment`, seen through random camera settings (one draw for
        the shared photo in self mode, one per photo in swap mode), the pasted face's mask
        perhaps cut (`Augmentation.source_mask`)."""
        target_pair, source_pair = self._face_obs(target), self._face_obs(source)
        if self.augmentation is None:
            return target_pair[..., 0], source_pair
        rng = self.np_random

        def seen(pair: np.ndarray) -> np.ndarray:
            return self.augmentation(pair[..., 0], pair[..., 1], rng)

        target_grey = seen(target_pair)
        source_grey = target_grey if source == target else seen(source_pair)
        return target_grey, np.stack([source_grey, self.augmentation.source_mask(source_pair[..., 1], rng)], -1)

    def step(self, action):
        if not (
            isinstance(action, (int, np.integer)) or (isinstance(action, np.ndarray) and action.shape == ())
        ) or not 0 <= int(action) < len(ACTION_NAMES):
            raise ValueError(f"invalid action {action!r}; expected an int in [0, {len(ACTION_NAMES)})")
        action = int(action)
        if action == STOP:
            reward = self.stop_bonus if self.within_tolerance() else -self.stop_penalty
            return self._observation(), float(reward), True, False, self._info(stopped=True)

        before, in_place = self.error(), self.hover_cost and self.within_tolerance()
        self._move(action)
        reward = (
            self.progress_weight * (before - self.error()) - self.step_cost - (self.hover_cost if in_place else 0.0)
        )
        if self.realism_fn is not None:
            previous, self._realism = self._realism, self._score_realism()
            reward += self.realism_weight * (self._realism - previous)
        return self._observation(), float(reward), False, False, self._info()

    def _move(self, action: int) -> None:
        p, shift = self.placement, self.shift_step * self._face_px
        if action in (UP, DOWN, LEFT, RIGHT):
            dx, dy = {UP: (0, -shift), DOWN: (0, shift), LEFT: (-shift, 0), RIGHT: (shift, 0)}[action]
            limit = self.canvas / 2
            p.dx = min(max(p.dx + dx, -limit), limit)
            p.dy = min(max(p.dy + dy, -limit), limit)
        elif action == GROW:
            p.scale = float(min(p.scale * self.scale_step, 2.0))
        elif action == SHRINK:
            p.scale = float(max(p.scale / self.scale_step, 0.5))

    # ---- baselines ----------------------------------------------------------------------------
    def place(self, matrix: np.ndarray) -> None:
        """Put the face where a full source->target transform says (rotation is dropped):
        used by one-shot baselines that estimate the transform directly."""
        # displacement D = matrix o gt^-1, read off as scale about the centre plus a shift
        gt = np.vstack([self._gt, [0.0, 0.0, 1.0]])
        d = (np.vstack([matrix, [0.0, 0.0, 1.0]]) @ np.linalg.inv(gt))[:2]
        scale = float(np.sqrt(abs(np.linalg.det(d[:, :2]))))
        moved = fusion.apply(d, self._center[None])[0] - self._center
        self.placement = Placement(float(moved[0]), float(moved[1]), float(np.clip(scale, 0.5, 2.0)))

    def oracle_action(self) -> int:
        """Greedy action on the ground truth: the move that lowers the error most, or stop
        once within tolerance. Its step count is the optimum evaluation compares against."""
        if self.within_tolerance():
            return STOP
        saved = Placement(**vars(self.placement))
        best, best_err = STOP, self.error()
        for action in (UP, DOWN, LEFT, RIGHT, GROW, SHRINK):
            self._move(action)
            err = self.error()
            self.placement = Placement(**vars(saved))
            if err < best_err - 1e-9:
                best, best_err = action, err
        return best

"""Global (camera) motion between two frames, so that FAME's frame difference sees the actor, not the pan.

FAME takes sum_c |x_t - x_t+1| as evidence of the actor; a moving camera makes every textured
pixel move and the difference lights up the whole background. These functions estimate one global
transform that maps frame b onto frame a, warp b with it and say which pixels of the warped frame
are defined (the strip the camera uncovered is not). Methods:

- ``none``:       identity (the paper's FAME);
- ``ecc``:        a Euclidean transform (shift + rotation) maximising the enhanced correlation
                  coefficient (cv2.findTransformECC), started from the phase-correlation shift so
                  that pans of several pixels per frame pair converge;
- ``similarity``: Shi-Tomasi corners of frame a tracked into frame b by pyramidal Lucas-Kanade, a
                  similarity transform (shift, rotation, scale: pans, camera roll and zoom) fitted
                  with RANSAC, so the actor's and distractors' own motion are outliers;
- ``homography``: the same tracks, a full homography (a rotating camera's exact model, but eight
                  parameters fitted from the few corners of a small frame).

Nothing is warped (the result is the uncompensated difference, never an error) when the estimate
fails (too little texture, no convergence), when the identity explains the tracked corners as well
as the fitted model, when the transform moves no pixel by more than NEGLIGIBLE_PX, or when the
warped frame does not lower the median difference to frame a. The last check matters most: a
spurious sub-pixel estimate on a still camera resamples frame b, the interpolation blurs its
texture, and on sharp texture that blur shows up everywhere as motion, wiping out the actor.
"""

from __future__ import annotations

import cv2
import numpy as np

METHODS = ("none", "ecc", "similarity", "homography")
_MIN_TRACKS = 12  # fewer tracked corners (or inliers) than this: no fit is trusted
_RANSAC_PX = 1.0  # reprojection error of a background inlier
_MIN_SPREAD = 0.25  # share of the frame the camera inliers' bounding box must cover
_CLOSE_PX = 0.5  # finer than the RANSAC threshold, so sub-pixel camera shake still counts as motion
NEGLIGIBLE_PX = 0.25  # a transform moving no frame corner further than this is a still camera
_VALID_TOLERANCE = 0.999  # a warped pixel is defined when (almost) all its interpolation weight was inside


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"motion compensation must be one of {', '.join(METHODS)}, got {method!r}")
    return method


def _gray(frame: np.ndarray) -> np.ndarray:
    """float RGB in [0, 1] (H, W, 3) -> float32 grey (H, W)."""
    return cv2.cvtColor(np.ascontiguousarray(frame, np.float32), cv2.COLOR_RGB2GRAY)


def _ecc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ga, gb = _gray(a), _gray(b)
    (dx, dy), _ = cv2.phaseCorrelate(ga, gb)  # b is a shifted by (dx, dy)
    warp = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4)
    try:
        _, warp = cv2.findTransformECC(ga, gb, warp, cv2.MOTION_EUCLIDEAN, criteria, None, 3)
    except cv2.error:
        return np.eye(3)  # no convergence (flat frames)
    return np.vstack([warp, [0, 0, 1]]).astype(np.float64)


def _tracks(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Corners of a and where they went in b, (N, 1, 2) each; None when too few were tracked."""
    ga = np.rint(_gray(a) * 255).astype(np.uint8)
    gb = np.rint(_gray(b) * 255).astype(np.uint8)
    corners = cv2.goodFeaturesToTrack(ga, maxCorners=150, qualityLevel=0.01, minDistance=2, blockSize=5)
    if corners is None or len(corners) < _MIN_TRACKS:
        return None
    tracked, status, _ = cv2.calcOpticalFlowPyrLK(ga, gb, corners, None, winSize=(15, 15), maxLevel=2)
    ok = status.reshape(-1) == 1
    return (corners[ok], tracked[ok]) if ok.sum() >= _MIN_TRACKS else None


def _from_tracks(a: np.ndarray, b: np.ndarray, method: str) -> np.ndarray:
    tracks = _tracks(a, b)
    if tracks is None:
        return np.eye(3)
    # x_b = T x_a for the background; RANSAC keeps the background's corners as inliers
    if method == "homography":
        transform, inliers = cv2.findHomography(tracks[0], tracks[1], cv2.RANSAC, _RANSAC_PX)
    else:
        transform, inliers = cv2.estimateAffinePartial2D(tracks[0], tracks[1], method=cv2.RANSAC,
                                                         ransacReprojThreshold=_RANSAC_PX)
        transform = None if transform is None else np.vstack([transform, [0, 0, 1]])
    if transform is None or inliers is None or inliers.sum() < _MIN_TRACKS:
        return np.eye(3)
    # the camera moves the whole frame: inliers bunched in a small box are one moving object (the actor
    # on a flat background), not the camera
    inside = tracks[0].reshape(-1, 2)[inliers.reshape(-1) > 0]
    box = np.ptp(inside, axis=0)
    if box[0] * box[1] < _MIN_SPREAD * a.shape[0] * a.shape[1]:
        return np.eye(3)
    # a still camera that explains as many corners as closely: the corners that move are the actor's
    if _close(np.eye(3), tracks) >= _close(transform, tracks):
        return np.eye(3)
    return transform


def _close(transform: np.ndarray, tracks: tuple[np.ndarray, np.ndarray]) -> int:
    """How many tracked corners the transform predicts within _CLOSE_PX."""
    start, end = (t.reshape(-1, 2).astype(np.float64) for t in tracks)
    moved = np.c_[start, np.ones(len(start))] @ transform.T
    return int((np.linalg.norm(moved[:, :2] / moved[:, 2:] - end, axis=1) <= _CLOSE_PX).sum())


def estimate(a: np.ndarray, b: np.ndarray, method: str) -> np.ndarray:
    """3x3 matrix H with b(H x) ~ a(x) for the static background: where a's pixel x went in frame b."""
    check_method(method)
    if method == "ecc":
        return _ecc(a, b)
    if method in ("similarity", "homography"):
        return _from_tracks(a, b, method)
    return np.eye(3)


def warp_onto(b: np.ndarray, transform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """b resampled on a's pixel grid (b(H x)) and a bool map of the pixels whose source lies inside b."""
    h, w = b.shape[:2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpPerspective(b, transform, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.warpPerspective(np.ones((h, w), np.float32), transform, (w, h), flags=flags,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return warped, inside >= _VALID_TOLERANCE


def largest_shift(transform: np.ndarray, height: int, width: int) -> float:
    """How far (pixels) the transform moves the farthest of the frame's four corners."""
    corners = np.array([[0, 0, 1], [width - 1, 0, 1], [0, height - 1, 1], [width - 1, height - 1, 1]], np.float64)
    moved = corners @ transform.T
    return float(np.max(np.linalg.norm(moved[:, :2] / moved[:, 2:] - corners[:, :2], axis=1)))


def aligned_pair(a: np.ndarray, b: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(b aligned onto a, the defined pixels or None when nothing was warped)."""
    if method == "none":
        return b, None
    transform = estimate(a, b, method)
    if largest_shift(transform, *a.shape[:2]) <= NEGLIGIBLE_PX:
        return b, None
    warped, defined = warp_onto(b, transform)
    if not defined.any():  # a wild estimate that maps the whole frame outside b
        return b, None
    # the median pixel is background (the actor covers far less than half the frame): a real camera
    # motion, once compensated, leaves it nearly unchanged
    if np.median(_difference(a, warped)[defined]) >= np.median(_difference(a, b)):
        return b, None
    return warped, defined


def _difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b).sum(axis=-1)

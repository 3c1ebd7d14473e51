"""The articulated actor: motion patterns (the action classes) and their skeleton geometry.

An action class is a motion pattern and, optionally, the object the actor handles (`PROPS`): many of
UCF-101's classes are told by an object (a bow, a guitar, a ball) as much as by the motion. Appearance
(colours, size, position, speed, phase, facing) is drawn per video and is independent of the class.

All geometry is in units of the figure's height `h`, image coordinates (x right, y down), with
the hip as the root. Limb angles are in degrees from the downward vertical. In side view a
positive angle points the way the figure faces; in front view it points outward from the body
(left limbs to image-left, right limbs to image-right).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ACTION_NAMES = (
    "Walk", "Run", "Jump", "Spin", "Wave", "Squat",
    "Kick", "Clap", "Bounce", "Zigzag", "JumpingJacks", "ArmCircle",
)

# The object each action is performed with: (shape, joint it is held at). Shapes are drawn by
# render.draw_prop; the joint carries the prop along the action's own motion.
PROPS = {
    "Walk": ("case", "r_hand"), "Run": ("baton", "r_hand"), "Jump": ("ring", "r_hand"),
    "Spin": ("disc", "l_hand"), "Wave": ("flag", "r_hand"), "Squat": ("box", "r_hand"),
    "Kick": ("ball", "r_foot"), "Clap": ("cross", "l_hand"), "Bounce": ("hat", "head"),
    "Zigzag": ("kite", "r_hand"), "JumpingJacks": ("triangle", "r_hand"), "ArmCircle": ("racket", "r_hand"),
}
PROP_SIZE = 0.28  # the prop's extent, units of h

# Segment lengths (units of h).
TORSO, SHOULDER_DROP, NECK_TO_HEAD, HEAD_RADIUS = 0.32, 0.03, 0.10, 0.075
UPPER_ARM, FOREARM, THIGH, SHIN = 0.16, 0.15, 0.23, 0.23
HIP_HALF_WIDTH, SHOULDER_HALF_WIDTH = 0.04, 0.06  # front view only
STANDING_LEG = THIGH + SHIN


@dataclass
class Pose:
    """Per-frame pose arrays (length T)."""

    view: str  # "side" or "front"
    travel: np.ndarray  # horizontal speed of the root, h per second (>= 0; direction = facing)
    lift: np.ndarray  # vertical root offset, h (negative = up)
    torso: np.ndarray  # lean, degrees
    l_upper_arm: np.ndarray
    l_forearm: np.ndarray
    r_upper_arm: np.ndarray
    r_forearm: np.ndarray
    l_thigh: np.ndarray
    l_shin: np.ndarray
    r_thigh: np.ndarray
    r_shin: np.ndarray
    x_scale: np.ndarray  # horizontal foreshortening (spin); 1 = none


def _pose(view: str, n: int, **fields: np.ndarray | float) -> Pose:
    def full(value: np.ndarray | float) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, np.float64), (n,)).copy()

    defaults = dict(travel=0.0, lift=0.0, torso=0.0, x_scale=1.0)
    values = {**defaults, **fields}
    return Pose(view=view, **{k: full(v) for k, v in values.items()})


# Base cycle frequency per action (Hz), before the per-video speed factor.
BASE_FREQUENCY = {
    "Walk": 0.9, "Run": 1.5, "Jump": 0.9, "Spin": 0.6, "Wave": 1.4, "Squat": 0.55,
    "Kick": 0.8, "Clap": 1.6, "Bounce": 1.1, "Zigzag": 0.7, "JumpingJacks": 1.2, "ArmCircle": 0.8,
}


def action_pose(action: str, t: np.ndarray, speed: float, phase: float) -> Pose:
    """The pose of `action` at times `t` (seconds) for a video's speed factor and phase."""
    if action not in BASE_FREQUENCY:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(ACTION_NAMES)}")
    n = len(t)
    phi = 2 * np.pi * BASE_FREQUENCY[action] * speed * t + phase
    s, c = np.sin(phi), np.cos(phi)
    if action in SIDE_VIEW:
        return _side_pose(action, n, s, c, speed)
    return _front_pose(action, n, s, c, phi)


SIDE_VIEW = frozenset({"Walk", "Run", "Jump", "Squat", "Kick", "Zigzag"})


def _side_pose(action: str, n: int, s: np.ndarray, c: np.ndarray, speed: float) -> Pose:
    """Actions seen from the side: legs and torso carry the motion."""
    if action == "Walk":
        bend_l, bend_r = 10 + 25 * np.maximum(0, -c), 10 + 25 * np.maximum(0, c)
        return _pose(
            "side", n, travel=0.35 * speed, lift=-0.015 * np.abs(c), torso=4,
            l_thigh=25 * s, l_shin=25 * s - bend_l, r_thigh=-25 * s, r_shin=-25 * s - bend_r,
            l_upper_arm=-20 * s, l_forearm=-20 * s + 15, r_upper_arm=20 * s, r_forearm=20 * s + 15,
        )
    if action == "Run":
        bend_l, bend_r = 30 + 60 * np.maximum(0, -c), 30 + 60 * np.maximum(0, c)
        return _pose(
            "side", n, travel=0.8 * speed, lift=-0.05 * np.abs(c), torso=12,
            l_thigh=45 * s, l_shin=45 * s - bend_l, r_thigh=-45 * s, r_shin=-45 * s - bend_r,
            l_upper_arm=-40 * s, l_forearm=-40 * s + 90, r_upper_arm=40 * s, r_forearm=40 * s + 90,
        )
    if action == "Jump":
        air, crouch = np.maximum(0, s), np.maximum(0, -s)
        thigh = 50 * air + 30 * crouch
        shin = thigh - (80 * air + 60 * crouch)
        arm = 15 + 140 * air - 30 * crouch
        return _pose(
            "side", n, lift=-0.35 * air + 0.08 * crouch, torso=15 * crouch,
            l_thigh=thigh, l_shin=shin, r_thigh=thigh, r_shin=shin,
            l_upper_arm=arm, l_forearm=arm + 10, r_upper_arm=arm, r_forearm=arm + 10,
        )
    if action == "Squat":
        k = (1 - c) / 2
        thigh, shin = 85 * k, -40 * k
        drop = THIGH * (1 - np.cos(np.radians(thigh))) + SHIN * (1 - np.cos(np.radians(shin)))
        return _pose(
            "side", n, lift=drop, torso=30 * k,
            l_thigh=thigh, l_shin=shin, r_thigh=thigh, r_shin=shin,
            l_upper_arm=80 * k, l_forearm=80 * k, r_upper_arm=80 * k, r_forearm=80 * k,
        )
    if action == "Kick":
        kk = np.maximum(0, s) ** 3
        r_thigh = -5 + 90 * kk
        return _pose(
            "side", n, torso=-12 * kk,
            l_thigh=-3, l_shin=-3, r_thigh=r_thigh, r_shin=r_thigh - 40 * (1 - kk),
            l_upper_arm=-35 - 15 * kk, l_forearm=-15 - 15 * kk, r_upper_arm=30 + 10 * kk, r_forearm=50 + 10 * kk,
        )
    # Zigzag
    tri = 2 / np.pi * np.arcsin(s)
    return _pose(
        "side", n, travel=0.45 * speed, lift=0.22 * tri, torso=20,
        l_upper_arm=50, l_forearm=50, r_upper_arm=50, r_forearm=50,
        l_thigh=0, l_shin=0, r_thigh=0, r_shin=0,
    )


def _front_pose(action: str, n: int, s: np.ndarray, c: np.ndarray, phi: np.ndarray) -> Pose:
    """Actions seen from the front: arms, spin and bounce carry the motion."""
    if action == "Spin":
        return _pose(
            "front", n, x_scale=c,
            l_upper_arm=85, l_forearm=85, r_upper_arm=85, r_forearm=85,
            l_thigh=6, l_shin=6, r_thigh=6, r_shin=6,
        )
    if action == "Wave":
        return _pose(
            "front", n,
            l_upper_arm=12, l_forearm=8, r_upper_arm=150 + 20 * s, r_forearm=165 + 35 * s,
            l_thigh=6, l_shin=6, r_thigh=6, r_shin=6,
        )
    if action == "Clap":
        k = (1 + s) / 2
        upper = 25 + 45 * k
        fore = upper - (35 + 125 * k)
        return _pose(
            "front", n, l_upper_arm=upper, l_forearm=fore, r_upper_arm=upper, r_forearm=fore,
            l_thigh=6, l_shin=6, r_thigh=6, r_shin=6,
        )
    if action == "Bounce":
        return _pose(
            "front", n, lift=-0.30 * np.abs(s),
            l_upper_arm=15, l_forearm=10, r_upper_arm=15, r_forearm=10,
            l_thigh=5, l_shin=5, r_thigh=5, r_shin=5,
        )
    if action == "JumpingJacks":
        k = (1 - c) / 2
        arm, leg = 15 + 145 * k, 4 + 22 * k
        return _pose(
            "front", n, lift=-0.06 * k,
            l_upper_arm=arm, l_forearm=arm + 10 * k, r_upper_arm=arm, r_forearm=arm + 10 * k,
            l_thigh=leg, l_shin=leg, r_thigh=leg, r_shin=leg,
        )
    # ArmCircle
    angle = np.degrees(phi) % 360.0
    return _pose(
        "front", n, l_upper_arm=angle, l_forearm=angle, r_upper_arm=angle, r_forearm=angle,
        l_thigh=6, l_shin=6, r_thigh=6, r_shin=6,
    )




@dataclass
class Skeleton:
    """Joint positions in units of h relative to the hip, each (T, 2) as (x, y)."""

    hip: np.ndarray
    neck: np.ndarray
    head: np.ndarray
    l_shoulder: np.ndarray
    r_shoulder: np.ndarray
    l_elbow: np.ndarray
    r_elbow: np.ndarray
    l_hand: np.ndarray
    r_hand: np.ndarray
    l_hip: np.ndarray
    r_hip: np.ndarray
    l_knee: np.ndarray
    r_knee: np.ndarray
    l_foot: np.ndarray
    r_foot: np.ndarray

    # (start, end) joint names of the drawn segments
    SEGMENTS = (
        ("hip", "neck"), ("l_shoulder", "l_elbow"), ("l_elbow", "l_hand"),
        ("r_shoulder", "r_elbow"), ("r_elbow", "r_hand"), ("l_hip", "l_knee"), ("l_knee", "l_foot"),
        ("r_hip", "r_knee"), ("r_knee", "r_foot"), ("l_shoulder", "r_shoulder"), ("l_hip", "r_hip"),
    )


def _direction(angle_deg: np.ndarray, sign_x: float) -> np.ndarray:
    a = np.radians(angle_deg)
    return np.stack([sign_x * np.sin(a), np.cos(a)], axis=-1)


def skeleton(pose: Pose, facing: int) -> Skeleton:
    """Joint positions for a pose; `facing` (+1/-1) mirrors the figure horizontally."""
    n = len(pose.lift)
    zero = np.zeros((n, 2))
    torso_dir = np.stack(
        [facing * np.sin(np.radians(pose.torso)), -np.cos(np.radians(pose.torso))], axis=-1
    )
    neck = TORSO * torso_dir
    head = (TORSO + NECK_TO_HEAD) * torso_dir
    shoulder = (TORSO - SHOULDER_DROP) * torso_dir
    if pose.view == "side":
        l_sign = r_sign = float(facing)
        l_sh = r_sh = shoulder
        l_hip = r_hip = zero
    else:
        l_sign, r_sign = -float(facing), float(facing)
        half = np.array([SHOULDER_HALF_WIDTH, 0.0])
        l_sh, r_sh = shoulder + l_sign * half, shoulder + r_sign * half
        hip_half = np.array([HIP_HALF_WIDTH, 0.0])
        l_hip, r_hip = zero + l_sign * hip_half, zero + r_sign * hip_half
    l_elbow = l_sh + UPPER_ARM * _direction(pose.l_upper_arm, l_sign)
    r_elbow = r_sh + UPPER_ARM * _direction(pose.r_upper_arm, r_sign)
    l_knee = l_hip + THIGH * _direction(pose.l_thigh, l_sign)
    r_knee = r_hip + THIGH * _direction(pose.r_thigh, r_sign)
    joints = dict(
        hip=zero, neck=neck, head=head, l_shoulder=l_sh, r_shoulder=r_sh,
        l_elbow=l_elbow, r_elbow=r_elbow,
        l_hand=l_elbow + FOREARM * _direction(pose.l_forearm, l_sign),
        r_hand=r_elbow + FOREARM * _direction(pose.r_forearm, r_sign),
        l_hip=np.broadcast_to(l_hip, (n, 2)), r_hip=np.broadcast_to(r_hip, (n, 2)),
        l_knee=l_knee, r_knee=r_knee,
        l_foot=l_knee + SHIN * _direction(pose.l_shin, l_sign),
        r_foot=r_knee + SHIN * _direction(pose.r_shin, r_sign),
    )
    scale = np.stack([pose.x_scale, np.ones(n)], axis=-1)
    return Skeleton(**{name: np.asarray(p) * scale for name, p in joints.items()})


def reflect_track(start: float, displacement: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """Positions of a point moving by `displacement` that bounces between `low` and `high`.

    Returns (positions, direction) where direction is +1 while moving right, -1 while moving left.
    """
    width = max(high - low, 1e-6)
    u = (start - low + displacement) % (2 * width)
    position = np.where(u <= width, low + u, low + 2 * width - u)
    direction = np.where(u <= width, 1, -1)
    return position, direction

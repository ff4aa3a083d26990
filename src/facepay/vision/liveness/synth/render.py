"""Image warps that animate a real photograph: eyelids closing, mouth opening, 3D head motion.

All warps are backward maps for `cv2.remap`, so the output has no holes. The head motion rotates
the face's relief (from `face3d`) about an axis behind the face and projects it with a pinhole
camera; a flat or bent sheet (a printed photo) goes through the same renderer with its own shape.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numpy.typing import NDArray

from facepay.vision.types import Landmarks, RGBImage

FloatMap = NDArray[np.float32]
CAMERA_MM = 450.0
"""Distance from the camera to the face (a kiosk at arm's length)."""
_MOUTH_INSIDE = np.array([70, 28, 30], dtype=np.uint8)


def identity_maps(size: tuple[int, int]) -> tuple[FloatMap, FloatMap]:
    """Backward maps that copy every pixel from where it is."""
    ys, xs = np.mgrid[0 : size[0], 0 : size[1]].astype(np.float32)
    return xs, ys


def close_eyes(image: RGBImage, lm: Landmarks, amount: float) -> RGBImage:
    """Lower both upper eyelids toward the lower lid contour (amount 0 open … 1 shut)."""
    if amount <= 0:
        return image
    map_x, map_y = identity_maps(image.shape[:2])
    for eye in (lm[36:42], lm[42:48]):
        upper = eye[[0, 1, 2, 3]]
        lower = eye[[0, 5, 4, 3]]
        width = float(eye[3, 0] - eye[0, 0])
        for x in range(math.floor(eye[0, 0]), math.ceil(eye[3, 0]) + 1):
            y_u = float(np.interp(x, upper[:, 0], upper[:, 1]))
            y_l = float(np.interp(x, lower[:, 0], lower[:, 1]))
            y_new = y_u + amount * max(y_l - y_u, 0.0) * 0.95
            y_top = y_u - 0.55 * width
            rows = np.arange(math.floor(y_top), math.ceil(y_new))
            scale = (y_u - y_top) / max(y_new - y_top, 1e-3)
            map_y[rows, x] = (y_top + (rows - y_top) * scale).astype(np.float32)
    stretched = remap(image, map_x, map_y)
    if amount < 0.5:
        return stretched
    return _blend(stretched, _painted_shut(stretched, lm), (amount - 0.5) * 2.0)


def _painted_shut(image: RGBImage, lm: Landmarks) -> RGBImage:
    """Eyes closed for good: the aperture filled with lid skin, a lash line along the lower lid.

    Stretching the lid is not enough on small or squinting faces, where the landmark model barely
    sees the difference; a shut eye is skin with one dark curved line.
    """
    mask = np.zeros(image.shape[:2], dtype=np.uint8)
    for eye in (lm[36:42], lm[42:48]):
        cv2.fillPoly(mask, [np.round(eye).astype(np.int32)], 255)
    grown = cv2.dilate(mask, np.ones((5, 5), np.uint8))
    shut = np.asarray(cv2.inpaint(image, grown, 4, cv2.INPAINT_TELEA), dtype=np.uint8)
    for eye in (lm[36:42], lm[42:48]):
        lash = np.round(eye[[0, 5, 4, 3]]).astype(np.int32)
        skin = shut[int(eye[:, 1].mean()), int(eye[:, 0].mean())].astype(np.float32)
        colour = tuple(int(c) for c in skin * 0.45)
        cv2.polylines(shut, [lash], isClosed=False, color=colour, thickness=2, lineType=cv2.LINE_AA)
    return shut


def _blend(a: RGBImage, b: RGBImage, alpha: float) -> RGBImage:
    mixed = cv2.addWeighted(a, 1.0 - alpha, b, alpha, 0.0)
    return np.asarray(mixed, dtype=np.uint8)


def open_mouth(image: RGBImage, lm: Landmarks, amount: float) -> RGBImage:
    """Drop the lower lip and jaw, showing the dark inside of the mouth (amount 0 … 1)."""
    if amount <= 0:
        return image
    out_h, out_w = image.shape[:2]
    map_x, map_y = identity_maps((out_h, out_w))
    width = float(lm[54, 0] - lm[48, 0])
    centre = float(lm[62, 0] + lm[66, 0]) / 2
    gap_max = amount * 0.35 * width
    chin = float(lm[8, 1])
    inner_x = lm[[60, 61, 62, 63, 64], 0]
    inner_y = (lm[[60, 61, 62, 63, 64], 1] + lm[[60, 67, 66, 65, 64], 1]) / 2
    hole = np.zeros((out_h, out_w), dtype=bool)
    for x in range(int(centre - 0.9 * width), int(centre + 0.9 * width) + 1):
        if not 0 <= x < out_w:
            continue
        taper = max(0.0, 1.0 - ((x - centre) / (0.9 * width)) ** 2)
        gap = gap_max * taper
        y_mid = float(np.interp(x, inner_x, inner_y))
        rows = np.arange(int(y_mid), out_h)
        fall = np.clip(1.0 - (rows - chin) / (0.6 * width), 0.0, 1.0)
        map_y[rows, x] = (rows - gap * fall).astype(np.float32)
        lip_gap = gap * float(np.clip((0.5 * width - abs(x - centre)) / (0.15 * width), 0, 1))
        hole[int(y_mid) : int(y_mid + lip_gap), x] = True
    out = remap(image, map_x, map_y)
    out[hole] = _MOUTH_INSIDE
    return out


def rotation_maps(
    shape_mm: FloatMap,
    *,
    yaw: float,
    pitch: float,
    px_per_mm: float,
    centre: tuple[float, float],
    pivot_mm: float,
    shift: tuple[float, float] = (0.0, 0.0),
    weight: FloatMap | None = None,
) -> tuple[FloatMap, FloatMap, FloatMap]:
    """Backward maps showing `shape_mm` (height toward the camera) turned by yaw/pitch degrees.

    Returns (map_x, map_y, distance) where `distance` is the camera-to-surface distance in mm at
    every output pixel, i.e. the depth map a structured-light sensor would report. `weight`
    (0…1 per pixel) fades the motion out, so that the background behind a head stays put.
    """
    h, w = shape_mm.shape
    xs, ys = identity_maps((h, w))
    cx, cy = centre
    x_mm = (xs - cx) / px_per_mm
    y_mm = (ys - cy) / px_per_mm
    z_mm = shape_mm + pivot_mm
    cy_, sy_ = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))
    cp, sp = math.cos(math.radians(pitch)), math.sin(math.radians(pitch))
    x1 = x_mm * cy_ + z_mm * sy_
    z1 = -x_mm * sy_ + z_mm * cy_
    # Chin down (pitch < 0 as estimate_pose reports it) moves the nose tip down in the image.
    y2 = y_mm * cp - z1 * sp
    z2 = y_mm * sp + z1 * cp
    distance = CAMERA_MM + pivot_mm - z2
    scale = (CAMERA_MM / distance) * px_per_mm
    # Keep the turning axis's projection in place (people turn about the neck, the camera
    # re-centres): the head's outline stays roughly put and the nose moves across it.
    back_x = pivot_mm * sy_ * px_per_mm
    back_y = -pivot_mm * cy_ * sp * px_per_mm
    fwd_x = (cx + shift[0] + x1 * scale - back_x).astype(np.float32)
    fwd_y = (cy + shift[1] + y2 * scale - back_y).astype(np.float32)
    dx, dy = (fwd_x - xs).astype(np.float32), (fwd_y - ys).astype(np.float32)
    if weight is not None:
        dx, dy = dx * weight, dy * weight
    src_x, src_y = xs.copy(), ys.copy()
    for _ in range(6):  # invert the forward map by fixed-point iteration
        src_x = xs - remap_float(dx, src_x, src_y)
        src_y = ys - remap_float(dy, src_x, src_y)
    return src_x, src_y, remap_float(distance.astype(np.float32), src_x, src_y)


def remap(image: RGBImage, map_x: FloatMap, map_y: FloatMap) -> RGBImage:
    """`cv2.remap` of an RGB image with bilinear sampling and replicated borders."""
    out = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(out, dtype=np.uint8)


def remap_float(values: FloatMap, map_x: FloatMap, map_y: FloatMap) -> FloatMap:
    """`cv2.remap` of a float map (relief, depth, displacement)."""
    out = cv2.remap(values, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(out, dtype=np.float32)

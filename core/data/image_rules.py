"""The per-image rules an image model's users need outside LayerLab: numpy and Pillow only.

Shipped verbatim in the TFLite/ONNX downloads' preprocess.py and in the generated prediction script, and called
by LayerLab's own checks, so what a user runs is what was tested:

- `read_image(path, channels)`: an image file as uint8 (height, width, channels), upright (EXIF), transparency
  on white, grey or RGB as the model wants;
- `resize_bilinear(images, side)`: what the `.keras` model's `Resizing` layer does (TensorFlow's bilinear resize
  with half-pixel centres, no antialiasing), in float32, so a fixed-size TFLite or ONNX model gets the very
  numbers the `.keras` model computes inside;
- `image_inputs(images, spec)`: raw uint8 images (one array, or a list of arrays of any sizes) → the dict
  `{"image": float32 (n, side, side, channels)}` those models take.
"""

from __future__ import annotations

import inspect

import numpy as np
from PIL import Image, ImageOps


def read_image(path, channels):
    """An image file as uint8 (height, width, channels): EXIF rotation applied, transparency composited on white,
    converted to grey (`channels` 1) or RGB (`channels` 3)."""

    with Image.open(path) as opened:
        image = ImageOps.exif_transpose(opened)
        if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        array = np.asarray(image.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    return array[..., None] if array.ndim == 2 else array


def fit_channels(image, channels):
    """A uint8 (height, width, c) image with `channels` channels: grey repeated into RGB, or RGB made grey
    (ITU-R 601 luma, as Pillow's "L")."""

    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] == channels:
        return image
    if channels == 3:
        return np.repeat(image[..., :1], 3, axis=-1)
    luma = image[..., :3].astype("float32") @ np.array([0.299, 0.587, 0.114], dtype="float32")
    return np.clip(np.rint(luma), 0, 255).astype("uint8")[..., None]


def resize_bilinear(images, side):
    """uint8 or float images (n, height, width, channels) → float32 (n, side, side, channels), computed as
    TensorFlow's `resize(method="bilinear", antialias=False)`: half-pixel centres, edges clamped."""

    images = np.asarray(images, dtype="float32")

    def weights(size_in):
        position = (np.arange(side, dtype="float32") + np.float32(0.5)) * np.float32(size_in / side) - np.float32(0.5)
        floor = np.floor(position)
        lower = np.maximum(floor, 0).astype("int64")
        upper = np.minimum(np.ceil(position), size_in - 1).astype("int64")
        return lower, upper, (position - floor).astype("float32")

    top, bottom, down = weights(images.shape[1])
    left, right, across = weights(images.shape[2])
    across = across[None, None, :, None]
    upper_rows, lower_rows = images[:, top], images[:, bottom]
    upper = upper_rows[:, :, left] + (upper_rows[:, :, right] - upper_rows[:, :, left]) * across
    lower = lower_rows[:, :, left] + (lower_rows[:, :, right] - lower_rows[:, :, left]) * across
    return upper + (lower - upper) * down[None, :, None, None]


def image_inputs(images, spec):
    """Raw uint8 images → the inputs of a LayerLab TFLite/ONNX image model: `{"image": float32 (n, side, side,
    channels)}`, pixels still 0..255 (the model rescales them). `images`: one uint8 array (n, height, width, c)
    or a list of (height, width, c) arrays of any sizes; `spec`: the download's preprocessing.json."""

    side, channels = spec["image_size"], spec["channels"]
    if isinstance(images, np.ndarray) and images.ndim == 4:
        batches = [fit_channels_batch(images, channels)]
    else:
        batches = [fit_channels(image, channels)[None] for image in images]
    resized = [resize_bilinear(batch, side) for batch in batches]
    return {"image": np.concatenate(resized) if resized else np.zeros((0, side, side, channels), dtype="float32")}


def fit_channels_batch(images, channels):
    """`fit_channels` for a batch (n, height, width, c)."""

    if images.shape[-1] == channels:
        return images
    return np.stack([fit_channels(image, channels) for image in images])


def shipped_source():
    """The functions above, verbatim: what code that leaves LayerLab carries, after its own imports of numpy as
    np and Pillow's Image and ImageOps (the TFLite/ONNX preprocess.py, the generated prediction script)."""

    functions = (read_image, fit_channels, fit_channels_batch, resize_bilinear, image_inputs)
    return "\n\n".join(inspect.getsource(function).rstrip("\n") + "\n" for function in functions)

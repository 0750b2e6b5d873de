"""Image data for DDPM Studio: sources (folders, zip archives, built-in sets), safe decoding, transforms
to [-1, 1] tensors and an in-memory cached dataset. No Qt here."""

from ddpm_studio.data.config import DataConfig
from ddpm_studio.data.dataset import ImageDataset, load_dataset
from ddpm_studio.data.decode import IMAGE_EXTENSIONS, ImageDecodeError, decode_image
from ddpm_studio.data.problems import DataLoadCancelled, DataSourceError, Problem, summarize_problems
from ddpm_studio.data.sources import (
    BUILTIN_DATASETS,
    FolderSource,
    ImageSource,
    SyntheticSource,
    ZipSource,
    iter_image_paths,
    open_source,
)
from ddpm_studio.data.transforms import ImageTransform, make_grid, to_uint8

__all__ = [
    "DataConfig", "ImageDataset", "load_dataset", "IMAGE_EXTENSIONS", "ImageDecodeError", "decode_image",
    "DataLoadCancelled", "DataSourceError", "Problem", "summarize_problems", "BUILTIN_DATASETS",
    "FolderSource", "ImageSource", "SyntheticSource", "ZipSource", "iter_image_paths", "open_source",
    "ImageTransform", "make_grid", "to_uint8",
]

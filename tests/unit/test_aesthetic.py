"""The aesthetic predictor of the reward-guidance `paper` path, on tiny random models saved like real ones."""

import numpy as np
import pytest
import torch

from geomlib.models.aesthetic import load_aesthetic_predictor


def test_score_is_the_published_affine_head_on_normalised_clip_image_features(
    tiny_clip_folder, tiny_aesthetic_head
):
    """Against CLIPModel.get_image_features (full checkpoint) and the head's weights multiplied in NumPy."""
    from transformers import CLIPImageProcessor, CLIPModel

    predictor = load_aesthetic_predictor(str(tiny_clip_folder), str(tiny_aesthetic_head), device="cpu")
    images = np.random.default_rng(0).random((3, 40, 48, 3)).astype(np.float32)

    clip = CLIPModel.from_pretrained(tiny_clip_folder).eval()
    pixels = CLIPImageProcessor.from_pretrained(tiny_clip_folder)(
        images=list(images), do_rescale=False, return_tensors="pt"
    ).pixel_values
    with torch.no_grad():
        features = clip.get_image_features(pixel_values=pixels)
    features = getattr(features, "pooler_output", features).double().numpy()
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    state = torch.load(tiny_aesthetic_head, weights_only=True)
    expected = unit
    for key in (0, 2, 4, 6, 7):  # no activations between the layers; dropout is off at inference
        expected = (
            expected @ state[f"layers.{key}.weight"].double().numpy().T + state[f"layers.{key}.bias"].numpy()
        )

    np.testing.assert_allclose(predictor.embeddings(images), unit, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(predictor.scores(images), expected[:, 0], rtol=1e-4, atol=1e-4)


def test_scores_do_not_depend_on_the_batch_split(tiny_clip_folder, tiny_aesthetic_head):
    predictor = load_aesthetic_predictor(str(tiny_clip_folder), str(tiny_aesthetic_head), device="cpu")
    images = np.random.default_rng(1).random((5, 32, 32, 3)).astype(np.float32)
    whole = predictor.scores(images)
    predictor.batch = 2
    np.testing.assert_allclose(predictor.scores(images), whole, rtol=1e-5, atol=1e-5)


def test_missing_or_mismatched_files_are_named(tiny_clip_folder, tiny_aesthetic_head, tmp_path):
    with pytest.raises(ValueError, match="aesthetic_clip"):
        load_aesthetic_predictor(None, str(tiny_aesthetic_head))
    with pytest.raises(FileNotFoundError, match="aesthetic_head"):
        load_aesthetic_predictor(str(tiny_clip_folder), str(tmp_path / "absent.pth"))
    with pytest.raises(FileNotFoundError, match="aesthetic_clip"):
        load_aesthetic_predictor(str(tmp_path / "no-clip-here"), str(tiny_aesthetic_head))
    wrong = tmp_path / "wide.pth"
    torch.save({"layers.0.weight": torch.zeros(1024, 768), "layers.0.bias": torch.zeros(1024)}, wrong)
    with pytest.raises(ValueError, match="8-dimensional"):
        load_aesthetic_predictor(str(tiny_clip_folder), str(wrong))


def test_grayscale_images_are_refused_with_the_expected_shape(tiny_clip_folder, tiny_aesthetic_head):
    predictor = load_aesthetic_predictor(str(tiny_clip_folder), str(tiny_aesthetic_head), device="cpu")
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        predictor.scores(np.zeros((2, 32, 32)))

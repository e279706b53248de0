"""The explorer's computations: the map's projection, dimension ranking, decoding, generation, views."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaekit.explore import ExploreError, Projection, ViewContext, open_explorer, view_for
from vaekit.explore.views import ImageView, TableView
from vaekit.runs import open_model


def test_projection_is_pca_and_maps_back_onto_its_plane():
    gen = torch.Generator().manual_seed(0)
    # Points spread mostly along two known directions of a 5-D space, plus small noise.
    basis = torch.linalg.qr(torch.randn(5, 5, generator=gen))[0][:, :2].T  # (2, 5) orthonormal
    coords = torch.randn(400, 2, generator=gen) * torch.tensor([3.0, 1.0])
    means = 0.7 + coords @ basis + 0.01 * torch.randn(400, 5, generator=gen)
    projection = Projection.fit(means)
    assert torch.allclose(projection.axes @ projection.axes.T, torch.eye(2), atol=1e-5)
    # The principal directions are the generating ones (up to sign), the first the wider.
    assert torch.allclose((projection.axes @ basis.T).abs(), torch.eye(2), atol=0.02)
    from sklearn.decomposition import PCA

    reference = PCA(2).fit_transform(means.numpy())
    points = projection(means).numpy()
    assert np.allclose(np.abs(points), np.abs(reference), atol=1e-3)
    # A map point maps to a latent whose projection is that point again.
    clicked = torch.tensor([[1.5, -0.25]])
    assert torch.allclose(projection(projection.inverse(clicked)), clicked, atol=1e-5)


def test_a_two_dimensional_latent_is_its_own_map():
    means = torch.randn(50, 2, generator=torch.Generator().manual_seed(1))
    projection = Projection.fit(means)
    assert torch.equal(projection(means), means) and projection.names == ("z0", "z1")
    assert torch.equal(projection.inverse(torch.tensor([[0.3, -2.0]])), torch.tensor([[0.3, -2.0]]))


def test_sliders_are_the_dimensions_with_most_kl(digits_run):
    explorer = open_explorer(digits_run, sliders=2)
    loaded = open_model(digits_run)
    q = loaded.model.encode(explorer.x[:2000])
    # KL(N(mu, s^2) || N(0, 1)) per dimension, averaged over the examples.
    mu, var = q.mean, q.variance
    kl = 0.5 * (mu.pow(2) + var - var.log() - 1).mean(0)
    assert explorer.ranking == "KL per dimension"
    assert explorer.dims == torch.argsort(kl, descending=True)[:2].tolist()
    assert torch.allclose(explorer.dim_scores, kl, rtol=1e-4, atol=1e-6)


def test_decoding_is_the_models_decoded_mean(digits_run):
    explorer = open_explorer(digits_run)
    model = open_model(digits_run).model
    z = [0.5, -1.0, 0.25, 2.0]
    payload = explorer.decode(z)["payload"]
    expected = ImageView(explorer.view.context).render(model.decode(torch.tensor([z])).mean)[0]
    assert payload == expected
    # A click on the map decodes the latent on the map's plane under the point.
    result = explorer.decode_point(0.3, -0.4)
    assert np.allclose(explorer.projection(torch.tensor([result["z"]])).numpy(), [[0.3, -0.4]], atol=1e-5)
    with pytest.raises(ExploreError, match="4 values"):
        explorer.decode([0.0, 1.0])


def test_interpolation_runs_between_the_two_examples_means(digits_run):
    explorer = open_explorer(digits_run)
    model = open_model(digits_run).model
    result = explorer.interpolate(3, 7, steps=5, method="lerp")
    ends = explorer.view.render(model.decode(explorer.means[[3, 7]]).mean)
    assert len(result["payloads"]) == 5 and result["payloads"][0] == ends[0] and result["payloads"][-1] == ends[1]
    assert len(explorer.interpolate(3, 7, steps=4, method="slerp")["payloads"]) == 4
    with pytest.raises(ExploreError):
        explorer.interpolate(3, 7, method="cubic")
    with pytest.raises(ExploreError, match="out of range"):
        explorer.interpolate(3, 10_000)


def test_samples_are_seeded_and_class_conditional(cvae_run):
    explorer = open_explorer(cvae_run)
    assert explorer.info()["conditional"] and explorer.projection.names == ("z0", "z1")
    first = explorer.samples(4, temperature=0.7, label=3, seed=5)
    assert first == explorer.samples(4, temperature=0.7, label=3, seed=5)
    assert first["label"] == 3 and first != explorer.samples(4, temperature=0.7, label=8, seed=5)
    # Decoding the same latent with two classes gives two pictures.
    assert explorer.decode([0.0, 0.0], label=1) != explorer.decode([0.0, 0.0], label=7)
    with pytest.raises(ExploreError, match="class 12"):
        explorer.samples(2, label=12)


def test_table_view_shows_features_in_their_own_units(table_run):
    explorer = open_explorer(table_run)
    assert isinstance(explorer.view, TableView)
    info = explorer.view.describe()
    assert info["columns"] == ["a", "b"] and info["low"][1] > 4 and info["high"][1] < 6
    model = open_model(table_run)
    std = model.preprocessing.standardizer
    z = torch.zeros(1, 2)
    standardized = model.model.decode(z).mean.detach()
    values = explorer.decode([0.0, 0.0])["payload"]["values"]
    expected = standardized[0].double() * torch.tensor(std.std) + torch.tensor(std.mean)
    assert np.allclose(values, expected.numpy(), rtol=1e-5)
    assert 4 < values[1] < 6  # feature b lives around 5 in its own units, not around 0


def test_view_registry_picks_by_data_shape_and_names_the_kinds():
    assert isinstance(view_for(ViewContext(data_shape=(1, 8, 8))), ImageView)
    assert isinstance(view_for(ViewContext(data_shape=(3, 16, 16))), ImageView)
    assert isinstance(view_for(ViewContext(data_shape=(12,))), TableView)
    with pytest.raises(ValueError, match="image"):
        view_for(ViewContext(data_shape=(7, 5, 3, 2)))


def test_image_payloads_are_the_pixels():
    from io import BytesIO

    from PIL import Image

    image = torch.linspace(0, 1, 64).reshape(1, 1, 8, 8)
    url = ImageView(ViewContext(data_shape=(1, 8, 8))).render(image)[0]["png"]
    import base64

    decoded = np.asarray(Image.open(BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    assert decoded.shape == (8, 8) and np.abs(decoded / 255.0 - image[0, 0].numpy()).max() <= 0.5 / 255 + 1e-6


def test_anomaly_scores_and_heat_maps_match_the_detector(detector):
    from vaekit.anomaly import VAEDetector

    folder, data = detector
    explorer = open_explorer(folder, data=str(data))
    saved = VAEDetector.load(folder)
    images = np.load(data)
    summary = explorer.anomaly()
    scores = saved.decision_function(images)
    assert np.allclose(explorer.scores, scores)
    assert [t["index"] for t in summary["top"]][:3] == np.argsort(-scores)[:3].tolist()
    assert sum(summary["counts"]) + summary["overflow"] == len(images) and summary["threshold"] == pytest.approx(
        saved.threshold_
    )
    assert summary["flagged"] == int((scores > saved.threshold_).sum())
    heat = explorer.explain(int(np.argmax(scores)))
    assert heat["score"] == pytest.approx(scores.max()) and heat["heat"]["png"].startswith("data:image/png")
    contributions = saved.explain(images[[int(np.argmax(scores))]]).contributions[0]
    assert heat["heat"]["max"] == pytest.approx(float(np.abs(contributions).max()), rel=1e-5)
    with pytest.raises(ExploreError, match="--data"):
        open_explorer(folder)


def test_a_vq_vae_samples_through_its_learned_prior(vq_run):
    from typer.testing import CliRunner

    from vaekit.cli import app

    explorer = open_explorer(vq_run)
    info = explorer.info()
    assert info["vq"] and not info["can_sample"] and "train-prior" in info["sample_note"]
    assert explorer.ranking == "variance of the posterior means"
    with pytest.raises(ExploreError, match="train-prior"):
        explorer.samples(2)
    assert explorer.decode(explorer.means[0].tolist())["payload"]["png"].startswith("data:image/png")
    args = ["train-prior", str(vq_run), "--epochs", "1", "--width", "16", "--layers", "1", "--heads", "2", "--no-plots"]
    assert CliRunner().invoke(app, args).exit_code == 0
    explorer = open_explorer(vq_run)
    assert explorer.info()["can_sample"] and explorer.info()["conditional"]
    drawn = explorer.samples(3, temperature=0.9, label=4, seed=11)
    model = open_model(vq_run).model
    torch.manual_seed(11)
    expected = explorer.view.render(model.sample(3, temperature=0.9, y=torch.tensor([4, 4, 4])))
    assert drawn["payloads"] == expected and drawn["label"] == 4


def test_a_text_run_is_shown_as_sentences(text_run):
    from tests.explore.conftest import TEXT_LINES
    from vaekit.text import TextModel

    explorer = open_explorer(text_run, max_points=50)
    info = explorer.info()
    assert info["view"]["kind"] == "text" and info["script"] == "view-text.js"
    assert explorer.example(0)["payload"]["text"] in TEXT_LINES  # the run's own test lines, as text
    text_model = TextModel.load(text_run)
    z = torch.tensor([[0.5, -1.0, 0.25]])
    decoded = explorer.decode(z[0].tolist())["payload"]["text"]
    assert decoded == text_model.decode_latents(z)[0]  # a slider position decodes greedily to that sentence
    assert all(isinstance(p["text"], str) for p in explorer.samples(n=4)["payloads"])


def test_a_text_file_can_be_explored_with_a_text_run(text_run, tmp_path):
    lines = tmp_path / "other.txt"
    lines.write_text("the dog sat on the mat\nthe bird ran to the door\n", encoding="utf-8")
    explorer = open_explorer(text_run, data=str(lines))
    assert len(explorer.map()["x"]) == 2

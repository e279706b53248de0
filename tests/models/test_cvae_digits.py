"""A CVAE trained briefly on digits generates the class it is asked for."""

import torch
from sklearn.linear_model import LogisticRegression

from vaekit import ELBOObjective, build_vae, log_likelihood
from vaekit.data import load_digits
from vaekit.train import fit


def test_cvae_generates_requested_class_far_above_chance():
    data = load_digits()
    x = data.train.float()
    y = data.train.y
    classifier = LogisticRegression(max_iter=2000).fit(x.flatten(1).numpy(), y.numpy())
    test_accuracy = classifier.score(data.test.float().flatten(1).numpy(), data.test.y.numpy())
    assert test_accuracy > 0.9  # the judge itself is good

    torch.manual_seed(0)
    model = build_vae([1, 8, 8], latent_dim=8, hidden=(256, 256), n_classes=10)
    fit(model, ELBOObjective(), x, y, epochs=40, batch_size=64, lr=2e-3, seed=0)
    model.eval()
    torch.manual_seed(1)
    wanted = torch.arange(10).repeat_interleave(30)
    samples = model.sample(300, y=wanted)
    predicted = classifier.predict(samples.flatten(1).numpy())
    accuracy = float((torch.from_numpy(predicted) == wanted).float().mean())
    assert accuracy > 0.8, accuracy  # chance is 0.1

    ll = log_likelihood(model, data.test.float(), data.test.y, k=50)
    assert ll.shape == (len(data.test),)
    assert torch.isfinite(ll).all()

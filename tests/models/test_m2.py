"""M2: the classifier, likelihood estimates with and without labels, class-conditional sampling, save/load."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vaekit.data import load_digits
from vaekit.io import load
from vaekit.models import M2
from vaekit.objectives import LossOutput, M2Objective
from vaekit.registry import build_model
from vaekit.train import fit


def tiny(architecture: str = "mlp", seed: int = 0) -> M2:
    torch.manual_seed(seed)
    spec = {"type": "m2", "n_classes": 3, "latent_dim": 2, "hidden": [8], "architecture": architecture}
    return build_model(spec, [1, 6, 6] if architecture == "conv" else [5])


def test_with_every_label_given_the_classifier_learns_as_a_supervised_one():
    # All labelled, the bound does not involve q(y|x): the classifier's gradient is alpha times that of its
    # cross-entropy, which Adam does not see. Same initialisation and batches -> the same classifier.
    digits = load_digits()
    x, y = digits.train.float()[:500], digits.train.y[:500]
    test_x, test_y = digits.test.float(), digits.test.y
    spec = {"type": "m2", "n_classes": 10, "latent_dim": 4, "hidden": [64], "likelihood": "bernoulli"}

    def cross_entropy(model, batch, step):
        loss = F.cross_entropy(model.classify(batch[0]).logits, batch[1])
        return LossOutput(loss, {"loss": loss.detach()})

    accuracies = []
    for objective in (M2Objective(alpha=20.0), cross_entropy):
        torch.manual_seed(0)
        model = build_model(spec, [1, 8, 8])
        fit(model, objective, x, y, epochs=6, batch_size=50, lr=2e-3, progress=False, seed=0)
        with torch.no_grad():
            accuracies.append((model.classify(test_x).probs.argmax(-1) == test_y).float().mean().item())
    m2_accuracy, supervised_accuracy = accuracies
    assert supervised_accuracy > 0.8  # chance is 0.1
    assert m2_accuracy == pytest.approx(supervised_accuracy, abs=0.02)


def test_likelihood_without_labels_is_the_mixture_over_classes():
    # log p(x) = log sum_y p(y) p(x|y): the estimate that draws y ~ q(y|x) matches the per-class estimates.
    model = tiny()
    x = torch.rand(4, 5).round()
    torch.manual_seed(1)
    with torch.no_grad():
        per_class = torch.stack(
            [
                torch.logsumexp(model.log_importance_weights(x, 4000, torch.full((4,), c)), 0) - math.log(4000)
                for c in range(3)
            ]
        )  # fmt: skip  (K, B): log p(x|y)
        marginal = torch.logsumexp(model.log_importance_weights(x, 20000), 0) - math.log(20000)
        mixed = torch.logsumexp(model.log_importance_weights(x, 20000, torch.tensor([0, -1, -1, 2])), 0)
    expected = torch.logsumexp(per_class, 0) - math.log(3)
    assert torch.allclose(marginal, expected, atol=0.05)
    # labelled examples keep the conditional log p(x|y); missing ones get the marginal
    mixed = mixed - math.log(20000)
    assert mixed[0].item() == pytest.approx(per_class[0, 0].item(), abs=0.05)
    assert mixed[3].item() == pytest.approx(per_class[2, 3].item(), abs=0.05)
    assert mixed[1].item() == pytest.approx(expected[1].item(), abs=0.05)


@pytest.mark.parametrize("architecture", ["mlp", "conv"])
def test_sampling_a_chosen_class_and_save_load(architecture, tmp_path):
    model = tiny(architecture)
    shape = model.data_shape
    x = torch.rand(4, *shape).round()
    assert model.sample(5, y=torch.tensor(2)).shape == (5, *shape)
    with pytest.raises(ValueError, match="conditional"):  # as for a CVAE, the class is chosen
        model.sample(5)
    # the class changes what is drawn: the same z decoded as two classes differs
    torch.manual_seed(3)
    a = model.sample(3, y=torch.tensor(0))
    torch.manual_seed(3)
    b = model.sample(3, y=torch.tensor(1))
    assert not torch.allclose(a, b)
    # one step of the objective with a missing label trains every part
    loss = M2Objective(alpha=1.0)(model, (x, torch.tensor([0, -1, 2, -1])), 0).loss
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.parameters())
    model.save(tmp_path / "m2")
    again = load(tmp_path / "m2")
    assert isinstance(again, M2)
    with torch.no_grad():
        assert torch.equal(model.classify(x).logits, again.classify(x).logits)
        assert torch.equal(model.encode(x).mean, again.encode(x).mean)


def test_input_checks_name_the_problem():
    model = tiny()
    x = torch.rand(3, 5).round()
    model.check_input(x, torch.tensor([0, -1, 2]))  # -1 marks a missing label
    with pytest.raises(ValueError, match="missing label"):
        model.check_input(x, torch.tensor([0, 3, 1]))
    with pytest.raises(ValueError, match="integer tensor"):
        model.check_input(x, torch.tensor([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="pass y"):
        model.decode(torch.zeros(2, 2))


def test_missing_labels_are_guessed_by_the_classifier():
    model = tiny()
    x = torch.rand(3, 5).round()
    with torch.no_grad():
        guess = model.classify(x).probs.argmax(-1)
        assert torch.equal(model.encode(x).mean, model.encode(x, guess).mean)
        partial = torch.tensor([2, -1, -1])
        filled = torch.where(partial >= 0, partial, guess)
        assert torch.equal(model.encode(x, partial).mean, model.encode(x, filled).mean)
        assert model.reconstruct(x).shape == x.shape


class FixedClassifier(torch.nn.Module):
    """A 'model' whose classifier always answers class 1."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def classify(self, x):
        return torch.distributions.Categorical(logits=torch.tensor([0.0, 5.0, 0.0]).expand(len(x), 3))


def test_classifier_accuracy_counts_only_the_labelled_examples():
    """Test data with missing labels (-1, as a semi-supervised file carries them): they are neither right nor wrong."""
    from vaekit.evaluate.probes import classifier_accuracy

    x = torch.zeros(6, 2)
    assert classifier_accuracy(FixedClassifier(), x, torch.tensor([1, 1, 0, -1, -1, -1])) == pytest.approx(2 / 3)
    assert classifier_accuracy(FixedClassifier(), x, torch.tensor([1, 1, 0, -1, -1, -1]), batch_size=2) == 2 / 3
    assert math.isnan(classifier_accuracy(FixedClassifier(), x, torch.full((6,), -1)))

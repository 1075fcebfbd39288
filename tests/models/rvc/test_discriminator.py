import json

import pytest
import torch
from torch.nn import functional as F

from timbrel.models.rvc.discriminator import DiscriminatorConfig, MultiPeriodDiscriminator


@pytest.mark.parametrize(("manifest", "version"), [("D_v1.json", "v1"), ("D_v2.json", "v2")])
def test_state_dict_keys_and_shapes_equal_the_reference(fixtures, manifest, version):
    expected = json.loads((fixtures / "rvc" / "manifests" / manifest).read_text())
    with torch.device("meta"):
        model = MultiPeriodDiscriminator(DiscriminatorConfig.for_version(version))
    got = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    assert got == [(k, v) for k, v in expected["keys"].items()]
    assert list(model.config.periods) == expected["periods"]
    assert sum(p.numel() for p in model.parameters()) == expected["num_params"]


def _period_reference(discriminator, x):
    """DiscriminatorP as the reference writes it: Conv2d with (k, 1) kernels on (b, c, t/p, p)."""
    b, c, t = x.shape
    p = discriminator.period
    if t % p:
        x = F.pad(x, (0, p - t % p), "reflect")
        t = x.shape[-1]
    x = x.view(b, c, t // p, p)
    fmap = []
    for conv in [*discriminator.convs, discriminator.conv_post]:
        weight = torch._weight_norm(conv.weight_v, conv.weight_g, 0)
        x = F.conv2d(x, weight, conv.bias, (conv.stride, 1), (conv.padding, 0))
        if conv is not discriminator.conv_post:
            x = F.leaky_relu(x, 0.1)
        fmap.append(x)
    return torch.flatten(x, 1, -1), fmap


def test_one_batched_call_equals_separate_calls_of_the_reference_formulation():
    torch.manual_seed(0)
    model = MultiPeriodDiscriminator(DiscriminatorConfig.tiny())
    real, fake = torch.randn(2, 1, 1001), torch.randn(2, 1, 1001)
    out = model(real, fake)
    for k, discriminator in enumerate(model.discriminators[1:], start=1):
        for audio, scores, fmaps in (
            (real, out.real_scores, out.real_fmaps),
            (fake, out.fake_scores, out.fake_fmaps),
        ):
            score, fmap = _period_reference(discriminator, audio)
            torch.testing.assert_close(scores[k], score, atol=1e-5, rtol=1e-5)
            for ours, theirs in zip(fmaps[k], fmap, strict=True):
                torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    score0, _ = model.discriminators[0](fake)
    torch.testing.assert_close(out.fake_scores[0], score0, atol=1e-6, rtol=1e-6)

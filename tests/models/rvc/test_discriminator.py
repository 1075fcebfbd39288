import json

import pytest
import torch
from benchmarks.rvc_train import period_reference

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
            score, fmap = period_reference(discriminator, audio)
            torch.testing.assert_close(scores[k], score, atol=1e-5, rtol=1e-5)
            for ours, theirs in zip(fmaps[k], fmap, strict=True):
                torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    score0, _ = model.discriminators[0](fake)
    torch.testing.assert_close(out.fake_scores[0], score0, atol=1e-6, rtol=1e-6)


def test_generator_pass_records_only_the_generated_audio_and_gives_the_same_numbers():
    torch.manual_seed(1)
    model = MultiPeriodDiscriminator(DiscriminatorConfig.tiny())
    real = torch.randn(2, 1, 1001)
    fake = torch.randn(2, 1, 1001, requires_grad=True)
    both = model(real, fake)
    generator_pass = model(real, fake, record_real=False)

    def loss(out):
        terms = [s.square().mean() for s in out.fake_scores]
        terms += [
            (r.detach() - g).abs().mean()
            for rs, gs in zip(out.real_fmaps, out.fake_fmaps, strict=True)
            for r, g in zip(rs, gs, strict=True)
        ]
        return sum(terms)

    for ours, theirs in zip(
        generator_pass.real_scores + generator_pass.fake_scores,
        both.real_scores + both.fake_scores,
        strict=True,
    ):
        torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-6)
    assert not any(f.requires_grad for fmaps in generator_pass.real_fmaps for f in fmaps)
    (grad,) = torch.autograd.grad(loss(generator_pass), [fake])
    (expected,) = torch.autograd.grad(loss(both), [fake])
    torch.testing.assert_close(grad, expected, atol=1e-7, rtol=1e-5)

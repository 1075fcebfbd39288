"""Guided rectified-flow sampling parity with RIFT-SVC (dit_small/sample.pt) and batched == sequential CFG."""

from __future__ import annotations

import json

import pytest
import torch

from tests import parity
from timbrel.core.errors import ConfigError
from timbrel.models.rift import flow
from timbrel.models.rift.guidance import (
    Guidance,
    GuidedVelocity,
    SequentialGuidedVelocity,
    combine,
    downsampled_content,
)
from timbrel.weights.rift import load_rift_checkpoint

CASES = ["no_cfg", "ds_only", "spk_only", "skip_only", "skip_only_rescale", "ds_spk_rescale", "all_rescale"]


@pytest.fixture(scope="module")
def small(fixtures):
    folder = fixtures / "rift" / "dit_small"
    model = load_rift_checkpoint(folder / "model-step=2.ckpt").model
    return model, torch.load(folder / "sample.pt", weights_only=True)


def guidance_from_settings(settings: dict) -> Guidance:
    """The reference's RF.sample keyword arguments -> Guidance (absent ones take the reference defaults)."""
    layers = settings.get("cfg_skip_layers")
    layers = () if layers is None else (layers,) if isinstance(layers, int) else tuple(layers)
    defaults = Guidance()
    return Guidance(
        ds_strength=settings.get("ds_cfg_strength", defaults.ds_strength),
        speaker_strength=settings.get("spk_cfg_strength", defaults.speaker_strength),
        skip_strength=settings.get("skip_cfg_strength", defaults.skip_strength),
        skip_layers=layers,
        rescale=settings.get("cfg_rescale", defaults.rescale),
    )


def sampling_terms(model, steps: int) -> int:
    """Each Euler step adds one guided velocity (up to four DiT passes) to the running state."""
    return parity.network_terms(model) * 4 * steps


def test_cases_cover_the_fixture(small):
    assert sorted(small[1]["cases"]) == sorted(CASES)


@pytest.mark.parametrize("velocity_class", [SequentialGuidedVelocity, GuidedVelocity])
@pytest.mark.parametrize("case", CASES)
def test_sampling_matches_reference(small, case, velocity_class):
    model, data = small
    inputs, expected = data["inputs"], data["cases"][case]
    settings = expected["settings"]
    bad = data[settings["bad_cvec"]] if "bad_cvec" in settings else None
    mask = flow.lens_to_mask(inputs["lens"])
    with torch.no_grad():
        velocity = velocity_class(
            model,
            inputs["spk"],
            inputs["f0"],
            inputs["rms"],
            inputs["cvec"],
            guidance_from_settings(settings),
            mask=mask,
            bad_content=bad,
        )
        mel, trajectory = flow.sample(
            velocity, data["y0_noise_before_mask"], inputs["src_mel"], mask, steps=data["steps"]
        )
    terms = sampling_terms(model, data["steps"])
    parity.float32_close(trajectory, expected["trajectory"], terms=terms, what=f"{case} trajectory")
    parity.float32_close(mel, expected["mel_out"], terms=terms, what=f"{case} mel")


@pytest.mark.parametrize("rate", [1, 2, 4])
def test_negative_content_matches_reference_batch(small, rate):
    _, data = small
    inputs = data["inputs"]
    bad = torch.zeros_like(inputs["cvec"])
    for item, n in enumerate(inputs["lens"].tolist()):
        bad[item, :n] = downsampled_content(inputs["cvec"][item, :n], rate)
    # linear interpolation: two products and a sum per value
    parity.float32_close(bad, data[f"bad_cvec_rate{rate}"], terms=2, what=f"rate {rate}")


def test_negative_content_matches_reference_features(fixtures):
    data = torch.load(fixtures / "rift" / "features" / "cvec_align.pt", weights_only=True)
    (aligned_key,) = [key for key in data if key.startswith("linear_interp_to_")]
    n_frames = data[aligned_key].shape[0]
    # infer.py halves the content already aligned to the mel frames (set2 names it); the public set's rows
    # were made from the encoder's 50 Hz frames
    source = data[data.get("bad_cvec_source", "cvec_in")]
    rates = [int(key.removeprefix("bad_cvec_rate")) for key in data if key.startswith("bad_cvec_rate")]
    assert rates
    for rate in rates:
        bad = downsampled_content(source, rate, n_frames)
        parity.float32_close(bad, data[f"bad_cvec_rate{rate}"], terms=2, what=f"rate {rate}")


# Skipped blocks by the fixture model's depth: the first, the second with the last, the middle one.
SKIP_CHOICES = {
    "first": lambda depth: (0,),
    "second_last": lambda depth: (1, depth - 1),
    "middle": lambda depth: (depth // 2,),
}


@pytest.mark.parametrize("layers", sorted(SKIP_CHOICES))
def test_batched_equals_sequential(small, layers):
    model, data = small
    inputs = data["inputs"]
    skipped = SKIP_CHOICES[layers](model.config.depth)
    guidance = Guidance(
        ds_strength=0.3, speaker_strength=0.7, skip_strength=0.4, skip_layers=skipped, rescale=0.6
    )
    args = (model, inputs["spk"], inputs["f0"], inputs["rms"], inputs["cvec"], guidance)
    kwargs = {"mask": inputs["mask"], "bad_content": data["bad_cvec_rate2"]}
    t = torch.tensor(0.4)
    with torch.no_grad():
        sequential = SequentialGuidedVelocity(*args, **kwargs)(t, inputs["x_t"])
        batched = GuidedVelocity(*args, **kwargs)(t, inputs["x_t"])
    torch.testing.assert_close(batched, sequential, atol=1e-5, rtol=1e-5)


def test_rescale_alone_changes_nothing():
    p = torch.randn(2, 3, 4)
    assert combine(Guidance(rescale=0.7), p) is p


def test_rescale_restores_the_conditional_std():
    p_cond, p_null = torch.randn(2, 30, 4), torch.randn(2, 30, 4)
    p = combine(Guidance(speaker_strength=2.0, rescale=1.0), p_cond, p_null=p_null)
    torch.testing.assert_close(p.std(), p_cond.std())


def test_missing_guidance_inputs_are_errors(small):
    model, data = small
    inputs = data["inputs"]
    with pytest.raises(ConfigError, match="downsampled content"):
        GuidedVelocity(
            model, inputs["spk"], inputs["f0"], inputs["rms"], inputs["cvec"], Guidance(ds_strength=0.5)
        )
    with pytest.raises(ConfigError, match="skip_layers"):
        Guidance(skip_strength=0.5)
    with pytest.raises(ConfigError, match="downsample rate"):
        downsampled_content(inputs["cvec"][0], 0)


def test_end_to_end_batches_match_reference(fixtures):
    """The DiT sampling inside the reference infer.py run (fixtures/rift/e2e): another model size
    (head_dim 32, content_dim 32), a padded batch of two and an unpadded batch of one."""
    folder = fixtures / "rift" / "e2e"
    settings = json.loads((folder / "settings.json").read_text())
    data = torch.load(folder / "intermediates.pt", weights_only=True)
    loaded = load_rift_checkpoint(folder / "model-step=2.ckpt")
    guidance = guidance_from_settings(settings["settings"])
    segments = iter(data["extract_features_in_call_order"])
    for batch in data["batches"]:
        items = [next(segments) for _ in batch["frame_lengths"]]
        assert [item["mel"].shape[1] for item in items] == batch["frame_lengths"].tolist()

        def pad(name, items=items):
            return torch.nn.utils.rnn.pad_sequence([item[name][0] for item in items], batch_first=True)

        (noise,) = [data["initial_noise_in_call_order"][i] for i in batch["randn_call_indices"]]
        mask = flow.lens_to_mask(batch["frame_lengths"])
        with torch.no_grad():
            velocity = GuidedVelocity(
                loaded.model,
                batch["spk_id"],
                pad("f0"),
                pad("rms"),
                pad("cvec"),
                guidance,
                mask=mask,
                bad_content=pad("cvec_ds"),
            )
            mel, _ = flow.sample(velocity, noise, pad("mel"), mask, steps=settings["settings"]["infer_steps"])
        terms = sampling_terms(loaded.model, settings["settings"]["infer_steps"])
        parity.float32_close(mel, batch["mel_out"], terms=terms, what="e2e batch mel")

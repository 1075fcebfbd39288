from __future__ import annotations

import numpy as np
import pytest

from tests.eval.signals import VOWEL_I, vowel
from timbrel.eval.speaker import cosine_similarity, speaker_embedding
from timbrel.features.voice_encoder import embed_utterance


def test_embedding_matches_resemblyzer(voice_encoder, reference_data):
    """The embedding of the stored clip equals the real package's.

    Resemblyzer cannot be imported by the tests (it imports librosa, and webrtcvad, which is not
    installed), so its output was computed once: scripts/make_eval_reference.py ran Resemblyzer
    0.1.4 (with librosa 0.11 and a stub webrtcvad module; embed_utterance never calls it) on the
    clip stored beside it in tests/eval/data/eval_reference.npz.
    """
    samples = reference_data["samples_int16"].astype(np.float32) / 32768
    expected = reference_data["resemblyzer_embedding"]
    ours = embed_utterance(voice_encoder.network, samples)
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    assert cosine_similarity(ours, expected) == pytest.approx(1.0, abs=1e-6)


def test_identical_audio_gives_similarity_one(voice_encoder):
    clip = vowel(2.5, 16000)
    target = speaker_embedding(voice_encoder, [clip])
    assert cosine_similarity(voice_encoder.embed(clip), target) == pytest.approx(1.0, abs=1e-6)


def test_a_different_voice_is_less_similar(voice_encoder):
    low_a = vowel(2.5, 16000, f0_hz=110.0)
    target = speaker_embedding(voice_encoder, [low_a, vowel(2.0, 16000, f0_hz=115.0)])
    same = cosine_similarity(voice_encoder.embed(vowel(2.5, 16000, f0_hz=112.0)), target)
    other = cosine_similarity(voice_encoder.embed(vowel(2.5, 16000, f0_hz=300.0, formants=VOWEL_I)), target)
    assert other < same


def test_zero_embedding_and_no_clips_are_errors(voice_encoder):
    with pytest.raises(ValueError, match="at least one clip"):
        speaker_embedding(voice_encoder, [])
    with pytest.raises(ValueError, match="zero embedding"):
        cosine_similarity(np.zeros(4), np.ones(4))

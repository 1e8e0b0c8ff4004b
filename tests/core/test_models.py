"""Encoder weights move between heads: a multiple-choice model's pooler does not block the next stage."""

from xscale import models


def test_encoder_with_a_pooler_loads_into_heads_without_one():
    cfg = models.scratch_config("xs", 100, 32)
    mc = models.build(cfg, "multiple_choice", num_labels=4, seed=0)
    state = models.encoder_state(mc)
    assert any(k.startswith("pooler.") for k in state)
    mlm = models.build(cfg, "mlm", encoder_state=state, seed=1)  # the probes' and retrieval's encoder
    assert (mlm.base_model.embeddings.word_embeddings.weight == mc.base_model.embeddings.word_embeddings.weight).all()
    models.build(cfg, "pair_classification", num_labels=3, encoder_state=state, seed=1)

"""The UniMSE model on tiny configs (CPU, seconds): parity with stock T5, PMF, the LSTM encoders'
row order, InfoNCE against a direct computation, save/load, optimiser groups and a golden value."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
import yaml
from transformers import T5ForConditionalGeneration

from unimse_core.config import ConfigError, ModelConfig, TokenizerConfig, from_dict
from unimse_core.model import (PMF, ContrastiveHead, ModalityEncoder, UniMSE, build_model, greedy_config, info_nce,
                               load_model, masked_mean, parameter_groups, resolve_blocks, save_model,
                               scratch_t5_config)
from unimse_core.tokenizer import load_tokenizer, train_tokenizer

VOCAB = 50

# The `model` group handed over for params.yaml (the small CPU default); loaded here so it stays valid.
DEFAULT_YAML = """
model:
  backbone: scratch
  d_model: 64
  d_ff: 256
  num_layers: 3
  num_decoder_layers: 3
  num_heads: 4
  d_kv: 16
  dropout_rate: 0.1
  feature_dim: 64
  lstm_hidden: 32
  lstm_layers: 1
  bidirectional: false
  modality_dropout: 0.3
  fusion: both
  fusion_blocks: 3
  pmf_bottleneck: 64
  pmf_init: identity
  contrastive: true
  contrastive_weight_audio: 0.5
  contrastive_weight_video: 0.5
  temperature: 0.1
  contrastive_dim: 30
"""


def tiny(**changes) -> ModelConfig:
    values = dict(backbone="scratch", d_model=32, d_ff=64, num_layers=3, num_decoder_layers=2, num_heads=2, d_kv=16,
                  dropout_rate=0.1, feature_dim=8, lstm_hidden=6, lstm_layers=1, bidirectional=False,
                  modality_dropout=0.3, fusion="both", fusion_blocks=2, pmf_bottleneck=16, pmf_init="identity",
                  contrastive=True, contrastive_weight_audio=0.5, contrastive_weight_video=0.5, temperature=0.1,
                  contrastive_dim=4)
    values.update(changes)
    return from_dict(ModelConfig, values, "model")


def plain_t5(seed: int = 0) -> T5ForConditionalGeneration:
    """A random tiny T5. Untied output layer: with tied embeddings a random T5 greedily repeats its
    start token (pad) forever, which would make generation checks vacuous."""
    config = scratch_t5_config(tiny(), VOCAB)
    config.tie_word_embeddings = False
    torch.manual_seed(seed)
    return T5ForConditionalGeneration(config).eval()


def make_batch(seed: int = 1, b: int = 4) -> dict[str, torch.Tensor]:
    """A collate-like batch: ragged inputs and targets, unsorted frame lengths with zeros."""
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(3, VOCAB, (b, 7), generator=g)
    attention_mask = torch.ones(b, 7, dtype=torch.long)
    attention_mask[1, 5:] = 0
    attention_mask[3, 4:] = 0
    input_ids[attention_mask == 0] = 0
    labels = torch.randint(3, VOCAB, (b, 5), generator=g)
    labels[:, -1] = 1
    labels[2, 3:] = -100
    audio_lengths = torch.tensor([6, 2, 0, 3][:b])
    video_lengths = torch.tensor([4, 4, 1, 0][:b])
    audio = torch.randn(b, 6, 8, generator=g) * (torch.arange(6) < audio_lengths[:, None]).unsqueeze(-1)
    video = torch.randn(b, 4, 8, generator=g) * (torch.arange(4) < video_lengths[:, None]).unsqueeze(-1)
    return dict(input_ids=input_ids, attention_mask=attention_mask, labels=labels, audio=audio,
                audio_lengths=audio_lengths, video=video, video_lengths=video_lengths, index=torch.arange(b))


def plain_logits(t5: T5ForConditionalGeneration, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return t5(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).logits


def pmf_modules(model: UniMSE) -> list[PMF]:
    return [m for m in model.modules() if isinstance(m, PMF)]


# ----------------------------------------------------------------------------------------------
# config


def test_the_default_yaml_loads_and_bad_values_name_the_key():
    config = from_dict(ModelConfig, yaml.safe_load(DEFAULT_YAML)["model"], "model")
    assert config.fusion_blocks == 3 and config.pmf_init == "identity"
    with pytest.raises(ConfigError, match=r"^model\.fusion_blocks: 4 blocks asked, but the scratch model has 3"):
        tiny(fusion_blocks=4, num_decoder_layers=3)
    with pytest.raises(ConfigError, match=r"^model\.fusion: must be one of"):
        tiny(fusion="text")
    with pytest.raises(ConfigError, match=r"^model\.temperature: must be > 0"):
        tiny(temperature=0)


# ----------------------------------------------------------------------------------------------
# parity with stock T5


def test_parity_without_fusion_and_contrastive_is_exact():
    plain = plain_t5()
    model = UniMSE(copy.deepcopy(plain), tiny(fusion="none", contrastive=False)).eval()
    assert not any(True for name, _ in model.named_parameters() if not name.startswith("t5."))  # nothing extra
    batch = make_batch()
    out = model(batch)
    assert torch.equal(out.logits, plain_logits(plain, batch))
    assert torch.equal(out.loss, out.ce_loss) and float(out.contrastive_loss) == 0.0
    with torch.no_grad():
        assert torch.equal(model(batch).logits, plain_logits(plain, batch))
    generated = model.generate(batch, max_new_tokens=6)
    expected = plain.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                              generation_config=greedy_config(plain.config, 6))
    assert torch.equal(generated, expected)
    assert len(set(generated[:, 1:].flatten().tolist())) > 1  # not a degenerate all-one-token check
    # fusion_blocks: 0 is the same as fusion: none
    assert torch.equal(UniMSE(copy.deepcopy(plain), tiny(fusion_blocks=0, contrastive=False)).eval()(batch).logits,
                       out.logits)


def test_parity_in_training_mode_with_the_same_seed():
    plain = plain_t5().train()
    model = UniMSE(copy.deepcopy(plain), tiny(fusion="none", contrastive=False)).train()
    batch = make_batch()
    torch.manual_seed(5)
    ours = model(batch).logits
    torch.manual_seed(5)
    assert torch.equal(ours, plain_logits(plain, batch))


def test_identity_init_passes_t5_through_up_to_the_tiny_residual_terms():
    """W_o = [I | 0], b_o = 0 at step 0, so eq. 6 gives F' = F + (Z W_u + b_u)[:, :d] with b_u = 0.

    1. With W_u = 0 as well, F' = F bit for bit (multiplying by 1 and adding exact zeros is exact):
       the fused model equals plain T5 exactly.
    2. Per block, since 0 < Z < 1: |F' - F|_inf <= max_j sum_k |W_u[j, k]| (about k x 0.8e-3).
    3. End to end, the change of the logits comes from those terms alone: it is first order in W_u
       (doubling W_u doubles it, to 5 %) and small: under 5 % of the logits' standard deviation (with
       k = 16 and W_u ~ N(0, 1e-6) a block moves F by about 4e-3 on hidden states of size about 1).
    """
    plain = plain_t5()
    batch = make_batch()
    model = UniMSE(copy.deepcopy(plain), tiny(contrastive=False)).eval()
    with torch.no_grad():
        reference = plain_logits(plain, batch)
        delta = model(batch).logits - reference
        assert 0 < delta.abs().max() < 0.05 * reference.std()

        for pmf in pmf_modules(model):
            hidden = torch.randn(3, 5, 32)
            modal = torch.randn(3, 12)
            bound = pmf.up.weight[:32].abs().sum(dim=1).max()
            assert (pmf(hidden, modal) - hidden).abs().max() <= bound + 1e-6
            pmf.up.weight.mul_(2)
        doubled = model(batch).logits - reference
        assert doubled.norm() / delta.norm() == pytest.approx(2.0, rel=0.05)

        for pmf in pmf_modules(model):
            pmf.up.weight.zero_()
        assert torch.equal(model(batch).logits, reference)


# ----------------------------------------------------------------------------------------------
# fusion is used


@pytest.mark.parametrize("fusion", ["both", "audio", "video"])
def test_changing_only_one_modality_changes_the_logits(fusion):
    torch.manual_seed(0)
    model = UniMSE(plain_t5(), tiny(fusion=fusion, pmf_init="random", contrastive=False)).eval()
    width = {"both": 12, "audio": 6, "video": 6}[fusion]  # X = [F ; v ; a] keeps only the fused columns
    assert all(p.down.in_features == 32 + width for p in pmf_modules(model))
    batch = make_batch()
    base = model(batch).logits
    for modality in ("audio", "video"):
        changed = dict(batch)
        changed[modality] = batch[modality] + torch.randn_like(batch[modality]) * 0.5
        different = not torch.equal(model(changed).logits, base)
        assert different == (fusion in ("both", modality)), modality


def test_perturbed_identity_pmf_uses_the_audio():
    model = UniMSE(plain_t5(), tiny(contrastive=False)).eval()
    with torch.no_grad():
        for pmf in pmf_modules(model):
            pmf.up.weight.normal_(0, 0.5)
            pmf.down.weight.normal_(0, 0.5)
    batch = make_batch()
    changed = dict(batch, audio=batch["audio"] * 2)
    assert (model(changed).logits - model(batch).logits).abs().max() > 1e-3


def test_frames_a_row_does_not_have_are_ignored():
    """Row 2 has no audio: whatever its padded frames hold, nothing changes (nor beyond other rows' lengths)."""
    model = UniMSE(plain_t5(), tiny(pmf_init="random")).eval()
    batch = make_batch()
    changed = dict(batch, audio=batch["audio"].clone())
    changed["audio"][2] = 7.0
    changed["audio"][1, 2:] = -3.0
    first, second = model(batch), model(changed)
    assert torch.equal(first.logits, second.logits)
    assert torch.equal(first.loss, second.loss)


def test_generation_with_fusion_matches_teacher_forcing():
    """The decoder runs step by step with a cache in generate(); PMF acts per position, so the greedy
    tokens are the argmax of a full forward pass on them."""
    torch.manual_seed(0)
    model = UniMSE(plain_t5(), tiny(pmf_init="random", contrastive=False)).eval()
    batch = make_batch()
    generated = model.generate(batch, max_new_tokens=5)  # [B, 1 + n]
    assert generated.shape[0] == 4 and torch.all(generated[:, 0] == 0)
    tokens = generated[:, 1:].contiguous()
    logits = model(dict(batch, labels=tokens)).logits
    ended = torch.cumsum(tokens == 1, dim=1) - (tokens == 1).long() > 0  # after the first EOS: padding
    assert torch.equal(logits.argmax(-1)[~ended], tokens[~ended])
    other = model.generate(dict(batch, audio=batch["audio"] * 3 + 1), max_new_tokens=5)
    assert other.shape == generated.shape  # runs; the ids may or may not differ


def test_pmf_outside_a_unimse_call_fails_loudly():
    model = UniMSE(plain_t5(), tiny(contrastive=False))
    batch = make_batch()
    with pytest.raises(RuntimeError, match="outside UniMSE.forward"):
        model.t5(input_ids=batch["input_ids"], labels=batch["labels"])


def test_constrained_generation_obeys_the_allowed_tokens():
    model = UniMSE(plain_t5(), tiny(pmf_init="random", contrastive=False)).eval()
    allowed = [5, 6, 7, 1]
    generated = model.generate(make_batch(), max_new_tokens=4, constrained=lambda row, ids: allowed)
    assert set(generated[:, 1:].flatten().tolist()) <= set(allowed) | {0}


# ----------------------------------------------------------------------------------------------
# the LSTM encoders


@pytest.mark.parametrize(("layers", "bidirectional"), [(1, False), (2, True)])
def test_unsorted_batch_matches_each_sample_run_alone(layers, bidirectional):
    torch.manual_seed(0)
    encoder = ModalityEncoder(8, 6, layers, bidirectional, dropout=0.3).eval()
    lengths = torch.tensor([5, 2, 7, 0])
    features = torch.randn(4, 7, 8) * (torch.arange(7) < lengths[:, None]).unsqueeze(-1)
    utterance, frames = encoder(features, lengths)
    assert utterance.shape == (4, 6) and frames.shape == (4, 7, 6 * (2 if bidirectional else 1))
    for i, n in enumerate(lengths.tolist()):
        alone_u, alone_f = encoder(features[i:i + 1, :max(n, 1)], lengths[i:i + 1])
        torch.testing.assert_close(utterance[i], alone_u[0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(frames[i, :n], alone_f[0, :n], rtol=1e-5, atol=1e-6)
        assert torch.all(frames[i, n:] == 0)
    assert torch.all(utterance[3] == 0)  # a row without frames carries no information


def test_encoder_rejects_inconsistent_inputs():
    encoder = ModalityEncoder(8, 6, 1, False, dropout=0.0)
    with pytest.raises(ValueError, match="feature_dim 8"):
        encoder(torch.zeros(2, 3, 5), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="do not fit"):
        encoder(torch.zeros(2, 3, 8), torch.tensor([1, 4]))


def test_a_batch_without_any_frames_runs():
    model = UniMSE(plain_t5(), tiny()).eval()
    batch = make_batch()
    for m in ("audio", "video"):
        batch[m] = torch.zeros(4, 1, 8)
        batch[f"{m}_lengths"] = torch.zeros(4, dtype=torch.long)
    out = model(batch)
    assert out.contrastive_loss.item() == 0.0 and torch.isfinite(out.loss)


# ----------------------------------------------------------------------------------------------
# contrastive learning


def direct_info_nce(query: torch.Tensor, key: torch.Tensor, temperature: float) -> float:
    """-1/N sum_i log( exp(cos(q_i, k_i)/t) / sum_j exp(cos(q_i, k_j)/t) ), written out."""
    n = len(query)
    total = 0.0
    for i in range(n):
        cos = [float(query[i] @ key[j] / (query[i].norm() * key[j].norm())) for j in range(n)]
        total -= cos[i] / temperature - math.log(sum(math.exp(c / temperature) for c in cos))
    return total / n


def test_info_nce_against_a_direct_computation():
    g = torch.Generator().manual_seed(0)
    query, key = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    assert float(info_nce(query, key, 0.1)) == pytest.approx(direct_info_nce(query, key, 0.1), rel=1e-5)
    valid = torch.tensor([True, False, True, True, False])
    assert float(info_nce(query, key, 0.1, valid)) == pytest.approx(
        direct_info_nce(query[valid], key[valid], 0.1), rel=1e-5)
    assert float(info_nce(query * 3, key, 0.5)) == pytest.approx(direct_info_nce(query, key, 0.5), rel=1e-5)


def test_info_nce_with_fewer_than_two_valid_rows_is_zero_and_differentiable():
    query = torch.randn(3, 4, requires_grad=True)
    key = torch.randn(3, 4)
    for valid in (torch.tensor([False, True, False]), torch.zeros(3, dtype=torch.bool)):
        loss = info_nce(query, key, 0.1, valid)
        loss.backward()
        assert loss.item() == 0.0 and torch.all(query.grad == 0)


def test_masked_mean_by_hand():
    x = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
                      [[1.0, 1.0], [9.0, 9.0], [2.0, 0.0]]])
    mask = torch.tensor([[1, 1, 0], [0, 0, 0]])
    assert masked_mean(x, mask).tolist() == [[2.0, 3.0], [0.0, 0.0]]


def test_contrastive_head_by_hand():
    head = ContrastiveHead(2, 3, 2)
    with torch.no_grad():
        head.query.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
        head.key.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    text = torch.tensor([[[1.0, 1.0], [3.0, 0.0], [9.0, 9.0]],
                         [[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]],
                         [[2.0, 2.0], [2.0, 2.0], [2.0, 2.0]]])
    text_mask = torch.tensor([[1, 1, 0], [1, 1, 1], [1, 0, 0]])
    frames = torch.tensor([[[1.0, 5.0, 0.0], [3.0, 5.0, 2.0]],
                           [[0.0, 0.0, 4.0], [8.0, 8.0, 8.0]],
                           [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]])
    lengths = torch.tensor([2, 1, 0])
    # by hand: queries = mean of [x0, 2 x1] over masked positions; keys = mean of [f0, f2] over frames
    q = torch.tensor([[2.0, 1.0], [0.0, 2.0]])  # rows 0, 1 (row 2 has no frames)
    k = torch.tensor([[2.0, 1.0], [0.0, 4.0]])
    assert head(text, text_mask, frames, lengths, 0.1).item() == pytest.approx(direct_info_nce(q, k, 0.1), rel=1e-5)


def test_model_contrastive_terms_use_the_state_entering_the_last_block():
    torch.manual_seed(0)
    model = UniMSE(plain_t5(), tiny(contrastive_weight_video=0.25)).eval()
    entering = {}
    for stack in ("encoder", "decoder"):
        getattr(model.t5, stack).block[-1].register_forward_pre_hook(
            lambda module, args, stack=stack: entering.__setitem__(stack, args[0]))
    batch = make_batch()
    out = model(batch)
    text_masks = {"encoder": batch["attention_mask"], "decoder": batch["labels"] != -100}
    expected = 0.0
    for stack in ("encoder", "decoder"):
        for modality, weight in (("audio", 0.5), ("video", 0.25)):
            head = model.contrastive_heads[f"{stack}_{modality}"]
            _, frames = model.encoders[modality](batch[modality], batch[f"{modality}_lengths"])
            lengths = batch[f"{modality}_lengths"]
            valid = lengths > 0  # rows without this modality are left out
            q = masked_mean(head.query(entering[stack]), text_masks[stack])[valid]
            mask = torch.arange(frames.shape[1]) < lengths[:, None]
            k = masked_mean(head.key(frames), mask)[valid]
            term = direct_info_nce(q.detach(), k.detach(), 0.1)
            assert out.contrastive_terms[f"{stack}_{modality}"].item() == pytest.approx(term, rel=1e-5)
            expected += weight * term
    assert out.contrastive_loss.item() == pytest.approx(expected, rel=1e-5)
    assert out.loss.item() == pytest.approx(out.ce_loss.item() + expected, rel=1e-5)


def test_a_zero_weight_drops_the_modality():
    model = UniMSE(plain_t5(), tiny(fusion="none", contrastive_weight_video=0.0))
    assert set(model.contrastive_heads) == {"encoder_audio", "decoder_audio"}
    assert set(model.encoders) == {"audio"} and len(model.pmf) == 0


@pytest.mark.parametrize(("fusion", "changes"), [("audio", {}), ("none", {}), ("both", {"contrastive": False}),
                                                 ("video", {"contrastive_weight_audio": 0.0})])
def test_every_parameter_gets_a_gradient(fusion, changes):
    """DistributedDataParallel (without find_unused_parameters) needs a gradient for every trainable
    parameter on every step, also when a batch has too few rows with frames for InfoNCE."""
    torch.manual_seed(0)
    model = UniMSE(T5ForConditionalGeneration(scratch_t5_config(tiny(), VOCAB)), tiny(fusion=fusion, **changes))
    batch = make_batch()
    batch["video_lengths"] = torch.tensor([0, 0, 1, 0])
    model(batch).loss.backward()
    assert [name for name, p in model.named_parameters() if p.grad is None] == []


# ----------------------------------------------------------------------------------------------
# saving, loading, building


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    model = UniMSE(plain_t5(), tiny(pmf_init="random")).eval()
    tokenizer = train_tokenizer(["hello world", "positive,1.5,joy,joy"], TokenizerConfig(vocab_size=40, split_digits=True))
    save_model(model, tmp_path / "model", tokenizer)
    meta = json.loads((tmp_path / "model" / "unimse.json").read_text())
    assert meta["schema_version"] == 1 and meta["model"]["pmf_init"] == "random"
    assert {"torch", "transformers", "unimse_core"} <= set(meta["versions"])
    assert load_tokenizer(tmp_path / "model")("hello")["input_ids"] == tokenizer("hello")["input_ids"]
    loaded = load_model(tmp_path / "model").eval()
    batch = make_batch()
    assert torch.equal(loaded(batch).logits, model(batch).logits)
    assert torch.equal(loaded.generate(batch, 4), model.generate(batch, 4))
    t5 = T5ForConditionalGeneration.from_pretrained(tmp_path / "model", local_files_only=True)
    assert all(torch.equal(v, t5.state_dict()[k]) for k, v in model.t5.state_dict().items())


def test_build_model_from_scratch_and_from_a_local_backbone(tmp_path):
    tokenizer = train_tokenizer(["hello world </s> friends", "positive,1.5,joy,joy"],
                                TokenizerConfig(vocab_size=60, split_digits=True))
    torch.manual_seed(0)
    scratch = build_model(tiny(), tokenizer)
    assert scratch.t5.config.vocab_size == len(tokenizer)
    assert (scratch.t5.config.pad_token_id, scratch.t5.config.eos_token_id,
            scratch.t5.config.decoder_start_token_id) == (0, 1, 0)
    scratch.t5.save_pretrained(tmp_path / "backbone")
    pretrained = build_model(tiny(backbone=str(tmp_path / "backbone"), num_layers=1, fusion_blocks=2), tokenizer)
    assert all(torch.equal(v, pretrained.t5.state_dict()[k]) for k, v in scratch.t5.state_dict().items())
    assert pretrained.fused_blocks == {"encoder": (1, 2), "decoder": (0, 1)}  # the backbone's depth, not num_layers
    with pytest.raises(ValueError, match="fusion_blocks: 3 blocks asked"):
        build_model(tiny(backbone=str(tmp_path / "backbone"), fusion_blocks=3), tokenizer)


# ----------------------------------------------------------------------------------------------
# freezing and optimiser groups


def test_parameter_groups_freeze_t5_but_the_chosen_blocks():
    model = UniMSE(plain_t5(), tiny())
    groups = parameter_groups(model, trainable_blocks=(-1, 0), lr_t5=3e-4, lr_other=1e-4, weight_decay=1e-4)
    by_name = {g["name"]: g for g in groups}
    assert (by_name["t5"]["lr"], by_name["other"]["lr"]) == (3e-4, 1e-4)
    assert all(g["weight_decay"] == 1e-4 for g in groups)
    trainable = {name for name, p in model.t5.named_parameters() if p.requires_grad}
    assert trainable == {name for name, _ in model.t5.named_parameters()
                         if name.startswith(("encoder.block.0.", "encoder.block.2.", "decoder.block.0.",
                                             "decoder.block.1."))}
    assert not model.t5.shared.weight.requires_grad
    assert {id(p) for p in by_name["t5"]["params"]} == {id(p) for p in model.t5.parameters() if p.requires_grad}
    other = {id(p) for p in by_name["other"]["params"]}
    names = [name for name, _ in model.named_parameters() if not name.startswith("t5.")]
    assert any(".query.weight" in n for n in names) and any(".key.weight" in n for n in names)
    assert other == {id(p) for name, p in model.named_parameters() if not name.startswith("t5.")}
    assert all(p.requires_grad for p in by_name["other"]["params"])

    # the projections really train (the reference's optimiser groups missed them)
    optimizer = torch.optim.Adam(groups)
    before = model.contrastive_heads["decoder_video"].query.weight.detach().clone()
    model(make_batch()).loss.backward()
    optimizer.step()
    assert not torch.equal(before, model.contrastive_heads["decoder_video"].query.weight)

    parameter_groups(model, trainable_blocks="all", lr_t5=1.0, lr_other=2.0, weight_decay=0.0)
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match=r"block 2 does not exist in a stack of 2 blocks"):
        parameter_groups(model, trainable_blocks=(2,), lr_t5=1.0, lr_other=1.0, weight_decay=0.0)


def test_resolve_blocks():
    assert resolve_blocks((10, 11), 12, "x") == (10, 11) == resolve_blocks((-2, -1), 12, "x")
    assert resolve_blocks((-1, 11), 12, "x") == (11,)
    with pytest.raises(ValueError, match="block -13"):
        resolve_blocks((-13,), 12, "x")


# ----------------------------------------------------------------------------------------------
# golden value


def test_two_adam_steps_give_the_stored_loss():
    """Guards against silent changes anywhere in the model (init order, equations, masking, loss
    weighting): a fixed seed, a fixed hand-built batch, dropout on, two Adam steps, then the loss in
    eval mode. If this moves, find out why before updating the number (it was observed with torch
    2.13 CPU, transformers 5.x)."""
    torch.manual_seed(1234)
    t5 = T5ForConditionalGeneration(scratch_t5_config(tiny(), VOCAB))
    model = UniMSE(t5, tiny()).train()
    optimizer = torch.optim.Adam(parameter_groups(model, trainable_blocks="all", lr_t5=1e-3, lr_other=1e-3,
                                                  weight_decay=1e-4))
    batch = make_batch()
    losses = []
    for _ in range(2):
        optimizer.zero_grad()
        out = model(batch)
        out.loss.backward()
        optimizer.step()
        losses.append(out.loss.item())
    model.eval()
    with torch.no_grad():
        final = model(batch)
    observed = [*losses, float(final.loss), float(final.contrastive_loss)]
    assert observed == pytest.approx(GOLDEN, abs=1e-5), observed


GOLDEN = [13.830854415893555, 9.918876647949219, 8.609128952026367, 3.9243083000183105]


def test_a_deep_copy_fuses_with_its_own_weights():
    """The hooks are bound to the model they belong to, so copy.deepcopy (best-checkpoint copies,
    EMA) gives an independent model rather than one whose hooks still run the original's PMF."""
    model = UniMSE(plain_t5(), tiny(pmf_init="random")).eval()
    batch = make_batch()
    before = model(batch).logits
    twin = copy.deepcopy(model)
    with torch.no_grad():
        for pmf in pmf_modules(twin):
            pmf.out.weight.mul_(-1)
    assert torch.equal(model(batch).logits, before)
    assert not torch.equal(twin(batch).logits, before)

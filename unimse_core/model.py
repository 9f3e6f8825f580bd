"""UniMSE: a stock transformers T5 with pre-trained modality fusion (PMF) and inter-modality
contrastive learning (docs/model.md, whose equation numbers the comments use).

The T5 is never forked. PMF runs in forward hooks on the stock `T5Block` modules of the last
`fusion_blocks` blocks of the encoder and of the decoder: a hook takes the block's hidden states F
(after its feed-forward sublayer) and returns F' of eq. (6) in their place. The utterance vectors a
and v of the current batch reach the hooks through the model itself: `forward` and `generate`
compute them, store them on the model for the duration of the T5 call (`_fusion_state`) and clear
them afterwards; a hook called outside that window raises instead of silently skipping PMF. The
contrastive queries read the hidden state ENTERING the last block with a forward pre-hook.

With `fusion: none` (or `fusion_blocks: 0`) and `contrastive: false` there are no hooks and no
extra modules: `forward` is one call of T5ForConditionalGeneration, bit for bit (tested).

Shapes: B batch, L input tokens, G target tokens, T frames, D feature_dim, d d_model,
h lstm_hidden, o LSTM frame width (h, or 2h when bidirectional), m = h x fused modalities,
k pmf_bottleneck, c contrastive_dim.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import safetensors.torch
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList, T5Config, T5ForConditionalGeneration

from unimse_core.config import ModelConfig, from_dict, to_dict
from unimse_core.data import LABEL_PAD
from unimse_core.io import model_folder
from unimse_core.versions import package_versions

MODALITIES: tuple[str, ...] = ("audio", "video")
STACKS: tuple[str, ...] = ("encoder", "decoder")
# Order of the modality columns of X = [F ; v ; a] (eq. 3); an ablation drops the unfused one.
FUSED: dict[str, tuple[str, ...]] = {"both": ("video", "audio"), "audio": ("audio",), "video": ("video",),
                                     "none": ()}
PMF_INIT_STD = 1e-3  # W_d, W_u ~ N(0, 0.001^2), as the reference's adapters

# the folder's layout and file names belong to unimse_core/io/model_folder.py
CHECKPOINT_FORMAT = model_folder.FORMAT
EXTRA_WEIGHTS = model_folder.EXTRA_WEIGHTS

Constraint = Callable[[int, torch.Tensor], list[int]] | LogitsProcessor


# ----------------------------------------------------------------------------------------------
# building blocks


class ModalityEncoder(nn.Module):
    """Acoustic or visual encoder: an LSTM over each row's frames (eq. 1) and the utterance vector
    u = Linear(Dropout(last hidden)) (eq. 2).

    Forward-only (the default): the LSTM runs on the right-padded batch as it is. Its output at
    frame i depends on frames <= i only, so padding cannot reach a row's own frames, and the last
    hidden state is read at frame length - 1: the values of a packed run, without its cost. On the
    CPU a packed LSTM slices its data once per time step and each slice's backward writes a zero
    tensor of the whole packed size (quadratic in T: for 32 rows of ~157 audio frames, 0.26 s against
    0.07 s padded on one core, and it took most of the default model's training step); oneDNN's LSTM
    backward is slower still there, so on the CPU the padded run uses torch's native kernel.
    Bidirectional: the backward direction must start at each row's last frame, so the rows are
    packed (pad_packed_sequence returns them in the caller's order; the reference permuted them a
    second time).

    Rows with zero frames run on their first (padding) frame; their frame outputs and utterance
    vector are then set to zero, so they carry no information.
    `utterance=False` (a modality only the contrastive loss uses) leaves the Linear out, so that no
    parameter goes without a gradient (DistributedDataParallel requires it); u is then None.
    """

    def __init__(self, feature_dim: int, hidden: int, layers: int, bidirectional: bool, dropout: float,
                 utterance: bool = True):
        super().__init__()
        self.feature_dim = feature_dim
        self.lstm = nn.LSTM(feature_dim, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional,
                            dropout=dropout if layers > 1 else 0.0)
        self.directions = 2 if bidirectional else 1
        self.out_dim = hidden * self.directions
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(self.out_dim, hidden) if utterance else None

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        """features [B, T, D] (right-padded), lengths [B] -> utterance vectors [B, h], frame outputs [B, T, o]
        (zero beyond each row's length)."""
        b, t, dim = features.shape
        if dim != self.feature_dim:
            raise ValueError(f"features have width {dim}, the encoder expects feature_dim {self.feature_dim}")
        lengths_cpu = lengths.detach().to("cpu", torch.int64)
        if lengths_cpu.numel() != b or bool((lengths_cpu < 0).any()) or bool((lengths_cpu > t).any()):
            raise ValueError(f"lengths {lengths_cpu.tolist()} do not fit features of shape {tuple(features.shape)}")
        lengths = lengths.to(features.device)
        if self.directions == 1:
            with _native_lstm(features.device):
                frames, _ = self.lstm(features)  # [B, T, o]; beyond a row's length: padding's outputs
            last = frames[torch.arange(b, device=features.device), lengths.clamp(min=1) - 1]  # [B, o]
        else:
            packed = pack_padded_sequence(features, lengths_cpu.clamp(min=1), batch_first=True,
                                          enforce_sorted=False)
            packed_out, (h_n, _) = self.lstm(packed)
            frames, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=t)  # [B, T, o]
            # h_n [layers x directions, B, h], in the caller's order: the last layer's directions side by side.
            last = h_n[-self.directions:].transpose(0, 1).reshape(b, self.out_dim)  # [B, o]
        valid = torch.arange(t, device=features.device) < lengths.unsqueeze(1)  # [B, T]
        frames = frames * valid.unsqueeze(-1)  # padding (and an empty row's first frame) leaves no trace
        has_frames = (lengths > 0).unsqueeze(-1)  # [B, 1]
        if self.linear is None:
            return None, frames
        utterance = self.linear(self.dropout(last)) * has_frames  # eq. 2, [B, h]
        return utterance, frames


@contextlib.contextmanager
def _native_lstm(device: torch.device) -> Iterator[None]:
    """On the CPU, run nn.LSTM with torch's native kernel rather than oneDNN's, whose backward took
    seconds where the native one takes 0.1 s (32 rows of ~157 frames, torch 2.13); elsewhere a no-op."""
    if device.type != "cpu" or not torch.backends.mkldnn.enabled:
        yield
        return
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = True


class PMF(nn.Module):
    """Pre-trained modality fusion after a block's feed-forward sublayer (eqs. 3-6):

    X = [F ; v ; a],  Z = sigmoid(X W_d + b_d),  X' = Z W_u + b_u + X,  F' = X' W_o + b_o.

    W_d, W_u ~ N(0, 0.001^2) and b_d = b_u = 0 (the reference's init). W_o: `identity` = [I | 0] with
    b_o = 0, so that F' = F + (Z W_u)[:, :d] differs from F only by the tiny W_u terms at step 0;
    `random` = nn.Linear's default init (the reference, which scrambles a pretrained block).
    """

    def __init__(self, d_model: int, d_modal: int, bottleneck: int, init: Literal["identity", "random"]):
        super().__init__()
        self.d_model = d_model
        width = d_model + d_modal
        self.down = nn.Linear(width, bottleneck)  # W_d, b_d
        self.up = nn.Linear(bottleneck, width)  # W_u, b_u
        self.out = nn.Linear(width, d_model)  # W_o, b_o
        self.reset_parameters(init)

    @torch.no_grad()
    def reset_parameters(self, init: Literal["identity", "random"]) -> None:
        for linear in (self.down, self.up):
            nn.init.normal_(linear.weight, mean=0.0, std=PMF_INIT_STD)
            nn.init.zeros_(linear.bias)
        if init == "identity":
            self.out.weight.zero_()
            self.out.weight[:, :self.d_model].copy_(torch.eye(self.d_model))  # nn.Linear weight is W_o^T: [d, d+m]
            self.out.bias.zero_()
        else:
            self.out.reset_parameters()

    def forward(self, hidden: torch.Tensor, modal: torch.Tensor) -> torch.Tensor:
        """hidden F [B, L, d], modal [v ; a] [B, m] -> F' [B, L, d]."""
        modal = modal.to(hidden.dtype).unsqueeze(1).expand(-1, hidden.shape[1], -1)  # [B, L, m]
        x = torch.cat([hidden, modal], dim=-1)  # eq. 3, X [B, L, d+m]
        z = torch.sigmoid(self.down(x))  # eq. 4, Z [B, L, k]
        x = self.up(z) + x  # eq. 5, X' [B, L, d+m]
        return self.out(x)  # eq. 6, F' [B, L, d]


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x [B, L, c], mask [B, L] (bool or 0/1) -> the mean over the masked-in positions [B, c] (zero for none)."""
    mask = mask.to(x.dtype).unsqueeze(-1)  # [B, L, 1]
    return (x * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def info_nce(query: torch.Tensor, key: torch.Tensor, temperature: float,
             valid: torch.Tensor | None = None) -> torch.Tensor:
    """InfoNCE with in-batch negatives (eq. 9): query [N, c], key [N, c] -> scalar.

    Row i's positive is key i, its negatives the other keys; both sides are L2-normalised, so the
    logits are cosines / temperature. `valid` [N] (bool) leaves rows out entirely (neither query nor
    negative); the mean runs over the valid rows, and with fewer than 2 of them the loss is 0 (still
    attached to the graph, so that every parameter gets a gradient, as DDP expects). No host sync.
    """
    q = F.normalize(query, dim=-1)
    k = F.normalize(key, dim=-1)
    logits = q @ k.transpose(0, 1) / temperature  # [N, N]
    targets = torch.arange(logits.shape[0], device=logits.device)
    if valid is None:
        return F.cross_entropy(logits, targets)
    logits = logits.masked_fill(~valid.unsqueeze(0), float("-inf"))  # invalid keys are no negatives
    logits = logits.masked_fill(~valid.unsqueeze(1), 0.0)  # invalid rows: finite, weighted 0 below
    per_row = F.cross_entropy(logits, targets, reduction="none")  # [N]
    count = valid.sum()
    weight = valid.to(per_row.dtype) / count.clamp(min=1) * (count >= 2)
    return (per_row * weight).sum()


class ContrastiveHead(nn.Module):
    """The projections of one (stack, modality) pair (eqs. 7-8): query = masked mean over text positions
    of W_q h (h: hidden state entering the stack's last block), key = masked mean over frames of W_k s
    (s: LSTM frame outputs). Bias-free, like the reference's 1x1 convolutions."""

    def __init__(self, d_text: int, d_frames: int, dim: int):
        super().__init__()
        self.query = nn.Linear(d_text, dim, bias=False)  # W_q
        self.key = nn.Linear(d_frames, dim, bias=False)  # W_k

    def forward(self, text: torch.Tensor, text_mask: torch.Tensor, frames: torch.Tensor, lengths: torch.Tensor,
                temperature: float) -> torch.Tensor:
        """text [B, L, d], text_mask [B, L], frames [B, T, o], lengths [B] -> L_t->m (scalar)."""
        t = frames.shape[1]
        lengths = lengths.to(frames.device)
        frame_mask = torch.arange(t, device=frames.device).unsqueeze(0) < lengths.unsqueeze(1)  # [B, T]
        query = masked_mean(self.query(text), text_mask)  # eq. 7, [B, c]
        key = masked_mean(self.key(frames), frame_mask)  # eq. 8, [B, c]
        valid = (lengths > 0) & (text_mask.sum(dim=1) > 0)  # rows without frames (or text) take no part
        return info_nce(query, key, temperature, valid)  # eq. 9


def resolve_blocks(indices: Sequence[int], depth: int, what: str) -> tuple[int, ...]:
    """Block indices of a stack of `depth` blocks, negatives counting from the end (-1 = last); sorted, unique."""
    resolved = set()
    for i in indices:
        if not -depth <= i < depth:
            raise ValueError(f"{what}: block {i} does not exist in a stack of {depth} blocks "
                             f"(valid: {-depth}..{depth - 1})")
        resolved.add(i % depth)
    return tuple(sorted(resolved))


# ----------------------------------------------------------------------------------------------
# the model


@dataclass
class UniMSEOutput:
    """loss = ce_loss + contrastive_loss (eq. 10); logits [B, G, vocab]; contrastive_terms: the unweighted
    InfoNCE of each (stack, modality), e.g. `encoder_audio`, for logging."""

    loss: torch.Tensor
    ce_loss: torch.Tensor
    contrastive_loss: torch.Tensor
    logits: torch.Tensor
    contrastive_terms: dict[str, torch.Tensor] = field(default_factory=dict)


class UniMSE(nn.Module):
    """T5 + acoustic/visual LSTM encoders + PMF hooks + contrastive heads.

    `t5` is used as given (its weights are not copied). Which modules exist depends on the config:
    - PMF in the last `fusion_blocks` blocks of encoder and decoder when fusion != none and
      fusion_blocks > 0, over the fused modalities only (fusion: audio -> X = [F ; a], no v columns);
    - a contrastive head per stack and modality when `contrastive` and that modality's weight > 0;
    - an LSTM encoder for every modality that PMF or a contrastive head uses.
    """

    def __init__(self, t5: T5ForConditionalGeneration, config: ModelConfig):
        super().__init__()
        self.t5 = t5
        self.config = config
        d_model = t5.config.d_model
        stacks = {"encoder": t5.encoder.block, "decoder": t5.decoder.block}

        self.fused = FUSED[config.fusion] if config.fusion_blocks > 0 else ()
        weights = {"audio": config.contrastive_weight_audio, "video": config.contrastive_weight_video}
        self.contrasted = tuple(m for m in MODALITIES if config.contrastive and weights[m] > 0)
        self.encoders = nn.ModuleDict({
            m: ModalityEncoder(config.feature_dim, config.lstm_hidden, config.lstm_layers, config.bidirectional,
                               config.modality_dropout, utterance=m in self.fused)
            for m in MODALITIES if m in self.fused or m in self.contrasted})

        self.fused_blocks: dict[str, tuple[int, ...]] = {}
        self.pmf = nn.ModuleDict()
        if self.fused:
            for stack, blocks in stacks.items():
                if config.fusion_blocks > len(blocks):
                    raise ValueError(f"model.fusion_blocks: {config.fusion_blocks} blocks asked, but the {stack} "
                                     f"of {config.backbone} has {len(blocks)}")
                self.fused_blocks[stack] = tuple(range(len(blocks) - config.fusion_blocks, len(blocks)))
                self.pmf[stack] = nn.ModuleList(
                    PMF(d_model, config.lstm_hidden * len(self.fused), config.pmf_bottleneck, config.pmf_init)
                    for _ in self.fused_blocks[stack])
        self.contrastive_heads = nn.ModuleDict({
            f"{stack}_{m}": ContrastiveHead(d_model, self.encoders[m].out_dim, config.contrastive_dim)
            for stack in STACKS for m in self.contrasted})

        # Fusion state of the current T5 call (set by _fusion_state only).
        self._modal: torch.Tensor | None = None
        self._capture = False
        self._captured: dict[str, torch.Tensor] = {}
        self._hook_handles = []
        for stack, blocks in stacks.items():
            for slot, index in enumerate(self.fused_blocks.get(stack, ())):
                self._hook_handles.append(blocks[index].register_forward_hook(
                    functools.partial(self._after_block, stack, slot)))
            if self.contrasted:
                self._hook_handles.append(blocks[-1].register_forward_pre_hook(
                    functools.partial(self._before_last_block, stack), with_kwargs=True))

    # -- hooks ---------------------------------------------------------------------------------

    def _after_block(self, stack: str, slot: int, module: nn.Module, args: Any, output: Any) -> Any:
        """Forward hook of a fused T5Block: its hidden states F become PMF's F' (eq. 6)."""
        modal = self._modal
        if modal is None:
            raise RuntimeError("a PMF block ran outside UniMSE.forward / UniMSE.generate: the audio and video "
                               "vectors of the batch are unknown (do not call model.t5 directly)")
        hidden = output[0]  # [B', L, d]
        if hidden.shape[0] != modal.shape[0]:
            # Beam search / several return sequences repeat each row (repeat_interleave): repeat its vector too.
            if hidden.shape[0] % modal.shape[0]:
                raise RuntimeError(f"{stack} block got {hidden.shape[0]} rows for {modal.shape[0]} utterance vectors")
            modal = modal.repeat_interleave(hidden.shape[0] // modal.shape[0], dim=0)
        # Under autocast PMF's output layer gives bf16/fp16; the residual stream keeps T5's own dtype.
        return (self.pmf[stack][slot](hidden, modal).to(hidden.dtype),) + tuple(output[1:])

    def _before_last_block(self, stack: str, module: nn.Module, args: Any, kwargs: Any) -> None:
        """Forward pre-hook of a stack's last block: keep the hidden state entering it (eq. 7's h)."""
        if self._capture:
            self._captured[stack] = args[0] if args else kwargs["hidden_states"]

    @contextlib.contextmanager
    def _fusion_state(self, modal: torch.Tensor | None, *, capture: bool) -> Iterator[dict[str, torch.Tensor]]:
        """Make `modal` [B, m] visible to the PMF hooks for one T5 call; yields the captured hidden states."""
        if self._modal is not None or self._capture:
            raise RuntimeError("UniMSE calls cannot be nested")
        captured: dict[str, torch.Tensor] = {}
        self._modal, self._capture, self._captured = modal, capture, captured
        try:
            yield captured
        finally:
            self._modal, self._capture, self._captured = None, False, {}

    # -- computation ---------------------------------------------------------------------------

    def encode_modalities(self, batch: Mapping[str, torch.Tensor], modalities: Sequence[str] | None = None) -> tuple[
            torch.Tensor | None, dict[str, tuple[torch.Tensor, torch.Tensor]]]:
        """The fused vector [v ; a] [B, m] (None without PMF) and, per encoded modality, (frame outputs
        [B, T, o], lengths [B]). `modalities`: encode only these (default: every one the config uses)."""
        utterances, frames = {}, {}
        for m, encoder in self.encoders.items():
            if modalities is not None and m not in modalities:
                continue
            if m not in batch or f"{m}_lengths" not in batch:
                raise KeyError(f"the batch has no {m!r} / {m + '_lengths'!r}, which this model's config uses")
            utterances[m], out = encoder(batch[m].float(), batch[f"{m}_lengths"])
            frames[m] = (out, batch[f"{m}_lengths"])
        modal = torch.cat([utterances[m] for m in self.fused], dim=-1) if self.fused else None
        return modal, frames

    def forward(self, batch: Mapping[str, torch.Tensor]) -> UniMSEOutput:
        """batch: `collate`'s dict (input_ids [B, L], attention_mask [B, L], labels [B, G] padded with -100,
        audio [B, Ta, D], audio_lengths [B], video [B, Tv, D], video_lengths [B]), on the model's device.

        loss = CE + w_a (L_ta^enc + L_ta^dec) + w_v (L_tv^enc + L_tv^dec)   (eq. 10)
        """
        modal, frames = self.encode_modalities(batch)
        with self._fusion_state(modal, capture=bool(self.contrasted)) as captured:
            # Called exactly as a plain T5 would be (parity); use_cache=False would change the decoder's
            # mask path and its logits in the last bits.
            out = self.t5(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                          labels=batch["labels"])
        ce = out.loss
        if not self.contrasted:
            return UniMSEOutput(loss=ce, ce_loss=ce, contrastive_loss=torch.zeros((), device=ce.device),
                                logits=out.logits)
        text_masks = {"encoder": batch["attention_mask"], "decoder": batch["labels"] != LABEL_PAD}
        weights = {"audio": self.config.contrastive_weight_audio, "video": self.config.contrastive_weight_video}
        terms = {}
        contrastive = torch.zeros((), device=ce.device)
        for stack in STACKS:
            for m in self.contrasted:
                frame_out, lengths = frames[m]
                term = self.contrastive_heads[f"{stack}_{m}"](captured[stack], text_masks[stack], frame_out,
                                                              lengths, self.config.temperature)
                terms[f"{stack}_{m}"] = term
                contrastive = contrastive + weights[m] * term
        return UniMSEOutput(loss=ce + contrastive, ce_loss=ce, contrastive_loss=contrastive, logits=out.logits,
                            contrastive_terms=terms)

    @torch.no_grad()
    def generate(self, batch: Mapping[str, torch.Tensor], max_new_tokens: int,
                 constrained: Constraint | None = None) -> torch.Tensor:
        """Greedy decoding with T5's `generate` while the batch's audio/video vectors feed PMF.

        Returns token ids [B, 1 + n] (n <= max_new_tokens) starting with the decoder start token;
        rows that ended early are padded with pad. `constrained`: a `prefix_allowed_tokens_fn`
        ((row, ids so far) -> allowed ids) or a LogitsProcessor. Call `model.eval()` first (dropout).
        The generation settings are explicit, whatever generation_config.json the backbone ships.
        """
        modal, _ = self.encode_modalities(batch, self.fused)  # the contrastive heads play no part here
        kwargs: dict[str, Any] = {}
        if isinstance(constrained, LogitsProcessor):
            kwargs["logits_processor"] = LogitsProcessorList([constrained])
        elif constrained is not None:
            kwargs["prefix_allowed_tokens_fn"] = constrained
        with self._fusion_state(modal, capture=False):
            return self.t5.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                    generation_config=greedy_config(self.t5.config, max_new_tokens), **kwargs)


def greedy_config(t5_config: T5Config, max_new_tokens: int) -> GenerationConfig:
    """Greedy decoding, `max_new_tokens` tokens at most, T5's start/EOS/pad ids; nothing else."""
    return GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, use_cache=True,  # KV cache
                            decoder_start_token_id=t5_config.decoder_start_token_id,
                            eos_token_id=t5_config.eos_token_id, pad_token_id=t5_config.pad_token_id)


# ----------------------------------------------------------------------------------------------
# building, saving, loading


def scratch_t5_config(config: ModelConfig, vocab_size: int) -> T5Config:
    """A T5 (v1.0 layout, as t5-base: ReLU feed-forward, tied embeddings) of the config's scratch sizes."""
    return T5Config(vocab_size=vocab_size, d_model=config.d_model, d_kv=config.d_kv, d_ff=config.d_ff,
                    num_layers=config.num_layers, num_decoder_layers=config.num_decoder_layers,
                    num_heads=config.num_heads, dropout_rate=config.dropout_rate, feed_forward_proj="relu",
                    tie_word_embeddings=True, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)


def build_model(config: ModelConfig, tokenizer: Any) -> UniMSE:
    """A new UniMSE: a scratch T5 of the config's sizes with the tokenizer's vocabulary, or the pretrained
    `config.backbone` (local folder or local Hugging Face cache; never downloads). Uses the global RNG:
    seed before calling."""
    if config.backbone == "scratch":
        t5 = T5ForConditionalGeneration(scratch_t5_config(config, vocab_size=len(tokenizer)))
    else:
        t5 = T5ForConditionalGeneration.from_pretrained(config.backbone, local_files_only=True)
        if len(tokenizer) > t5.config.vocab_size:
            raise ValueError(f"the tokenizer has {len(tokenizer)} tokens, {config.backbone} embeds only "
                             f"{t5.config.vocab_size}")
    for name in ("pad_token_id", "eos_token_id"):
        if getattr(tokenizer, name) != getattr(t5.config, name):
            raise ValueError(f"tokenizer {name} {getattr(tokenizer, name)} differs from the model's "
                             f"{getattr(t5.config, name)}")
    return UniMSE(t5, config)


def extra_state_dict(model: UniMSE) -> dict[str, torch.Tensor]:
    """The weights that are not T5's (PMF, LSTM encoders, contrastive projections)."""
    return {k: v for k, v in model.state_dict().items() if not k.startswith("t5.")}


def save_model(model: UniMSE, folder: str | Path, tokenizer: Any = None) -> None:
    """Write `folder`: T5 via save_pretrained (loadable by T5ForConditionalGeneration.from_pretrained),
    the other weights in unimse.safetensors, the resolved ModelConfig, schema and library versions in
    unimse.json, and the tokenizer's files when given."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.t5.save_pretrained(folder)
    safetensors.torch.save_file({k: v.detach().cpu().contiguous() for k, v in extra_state_dict(model).items()},
              str(folder / EXTRA_WEIGHTS), metadata={"format": CHECKPOINT_FORMAT})
    model_folder.write_extra_config(folder, to_dict(model.config), package_versions())
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)


def load_model(folder: str | Path) -> UniMSE:
    """The UniMSE that `save_model` wrote into `folder` (on the CPU)."""
    folder = Path(folder)
    meta = model_folder.read_extra_config(folder)
    config = from_dict(ModelConfig, meta["model"], f"{folder / model_folder.EXTRA_CONFIG}: model")
    t5 = T5ForConditionalGeneration.from_pretrained(folder, local_files_only=True)
    model = UniMSE(t5, config)
    extra = safetensors.torch.load_file(str(folder / EXTRA_WEIGHTS))
    missing, unexpected = model.load_state_dict(extra, strict=False)
    missing = [k for k in missing if not k.startswith("t5.")]
    if missing or unexpected:
        raise ValueError(f"{folder / EXTRA_WEIGHTS}: missing {missing}, unexpected {unexpected}")
    return model


# ----------------------------------------------------------------------------------------------
# freezing and optimiser groups


def parameter_groups(model: UniMSE, *, trainable_blocks: tuple[int, ...] | Literal["all"], lr_t5: float,
                     lr_other: float, weight_decay: float) -> list[dict[str, Any]]:
    """Freeze T5 except `trainable_blocks` and return the optimiser's parameter groups.

    trainable_blocks: "all" (every T5 weight trains: embeddings, blocks, final norms) or indices of the
    blocks that train in BOTH encoder and decoder, negatives counting from the end of each stack (the
    reference: (10, 11) of t5-base, i.e. (-2, -1)); everything else in T5 gets requires_grad False.
    Every non-T5 weight (LSTMs, PMF, contrastive projections) trains, in the `other` group.
    Groups: {"name": "t5" | "other", "params", "lr", "weight_decay"}; an empty group is left out.
    """
    t5 = model.t5
    if trainable_blocks == "all":
        t5.requires_grad_(True)
    else:
        t5.requires_grad_(False)
        for stack_name in STACKS:
            blocks = getattr(t5, stack_name).block
            for i in resolve_blocks(trainable_blocks, len(blocks), f"trainable_blocks ({stack_name})"):
                blocks[i].requires_grad_(True)
    t5_params = [p for p in t5.parameters() if p.requires_grad]
    other = [p for name, p in model.named_parameters() if not name.startswith("t5.")]
    for p in other:
        p.requires_grad_(True)
    groups = [{"name": "t5", "params": t5_params, "lr": lr_t5, "weight_decay": weight_decay},
              {"name": "other", "params": other, "lr": lr_other, "weight_decay": weight_decay}]
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise ValueError("nothing to train: no trainable T5 block and no UniMSE module")
    return groups


__all__ = ["ContrastiveHead", "ModalityEncoder", "PMF", "UniMSE", "UniMSEOutput", "build_model", "greedy_config",
           "info_nce", "load_model", "masked_mean", "parameter_groups", "resolve_blocks", "save_model",
           "scratch_t5_config"]

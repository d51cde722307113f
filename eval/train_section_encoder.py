"""Fine-tunes MiniLM's transformer layers on AMI dialogue acts: the section head's tuned encoder.

Called by eval/train_sections.py, which owns the data split; this module only trains. The top
TUNED_LAYERS transformer layers (all six: six beat four and two on the validation meetings) and a
linear classifier learn; the word-piece embeddings, half of MiniLM's weights, stay frozen, so the
stored artefact holds less than half the model (the rest is the packaged MiniLM). Two epochs took
41 minutes on two busy CPU cores. Settings chosen on the validation meetings
(models/section_head/README.md).
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import torch

from insightcap.config import Settings
from insightcap.insights.tuned_encoder import TunedEncoder, pooled_logits
from insightcap.themes.embed import sentence_model

TUNED_LAYERS = 6
EPOCHS = 2
BATCH = 32
ENCODER_LEARNING_RATE = 1e-4
CLASSIFIER_LEARNING_RATE = 1e-3
WARMUP_SHARE = 0.06
# Batches are drawn from shuffled pools of this many batches sorted by length, so a batch pads
# little and the order still changes every epoch.
POOL_BATCHES = 100


def _batches(lengths: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(len(lengths))
    batches = []
    for start in range(0, len(order), BATCH * POOL_BATCHES):
        pool = order[start : start + BATCH * POOL_BATCHES]
        pool = pool[np.argsort(lengths[pool], kind="stable")]
        batches += [pool[first : first + BATCH] for first in range(0, len(pool), BATCH)]
    rng.shuffle(batches)
    return batches


def fit_tuned_encoder(
    texts: list[str],
    labels: np.ndarray,
    sample_weight: np.ndarray,
    classes: tuple[str, ...],
    settings: Settings,
) -> TunedEncoder:
    """MiniLM's top TUNED_LAYERS layers and a classifier trained on the weighted cross-entropy of `labels`."""
    base = sentence_model(settings.embedding_model, settings.model_cache_dir)
    encoder = copy.deepcopy(base[0].auto_model)
    encoder.train()
    encoder.requires_grad_(False)
    encoder.encoder.layer[-TUNED_LAYERS:].requires_grad_(True)
    # Seeded after loading, which may draw random numbers, so that runs repeat exactly.
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    classifier = torch.nn.Linear(encoder.config.hidden_size, len(classes))
    optimiser = torch.optim.AdamW(
        [
            {
                "params": [p for p in encoder.parameters() if p.requires_grad],
                "lr": ENCODER_LEARNING_RATE,
            },
            {"params": classifier.parameters(), "lr": CLASSIFIER_LEARNING_RATE},
        ],
        weight_decay=0.01,
    )
    steps = EPOCHS * math.ceil(len(texts) / BATCH)
    warmup = WARMUP_SHARE * steps
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser,
        lambda step: min(1.0, step / warmup) * max(0.0, (steps - step) / steps),
    )
    targets = torch.tensor([classes.index(label) for label in labels])
    weights = torch.tensor(sample_weight, dtype=torch.float32)
    lengths = np.array([len(text) for text in texts])
    started = time.time()
    for epoch in range(EPOCHS):
        for batch in _batches(lengths, rng):
            logits = pooled_logits(
                encoder,
                base.tokenizer,
                [texts[row] for row in batch],
                classifier.weight,
                classifier.bias,
            )
            loss = torch.nn.functional.cross_entropy(
                logits, targets[batch], reduction="none"
            )
            optimiser.zero_grad()
            (loss * weights[batch]).mean().backward()
            optimiser.step()
            schedule.step()
        print(
            f"tuned encoder: epoch {epoch + 1}/{EPOCHS} in {time.time() - started:.0f} s",
            flush=True,
        )
    tuned_keys = [
        name
        for name, parameter in encoder.named_parameters()
        if parameter.requires_grad
    ]
    state = encoder.state_dict()
    return TunedEncoder(
        base_model=settings.embedding_model,
        layers={key: state[key].detach().numpy().copy() for key in tuned_keys},
        classifier_weights=classifier.weight.detach().numpy().copy(),
        classifier_bias=classifier.bias.detach().numpy().copy(),
        meta={
            "tuned_layers": TUNED_LAYERS,
            "epochs": EPOCHS,
            "batch": BATCH,
            "encoder_learning_rate": ENCODER_LEARNING_RATE,
            "classifier_learning_rate": CLASSIFIER_LEARNING_RATE,
            "training_acts": len(texts),
        },
    )

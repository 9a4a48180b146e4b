# Seed 002 (002_707579571acc0c1b.txt), lines 759-780: 3 - Callbacks.
# seed-file: 002_707579571acc0c1b.txt
# seed-lines: 759-780
# seed-format: markdown
# Changes to the seed text: import lines renamed (stable_pretraining -> spt); nothing else.
# Stand-ins (tests/seeds/conftest.py): CIFAR-10 and the HF Hub data, DataLoader batch size <= 4,
# Trainer limited to 1 batch on the CPU in 32-bit precision, wandb disabled.
# runs-after: 002_0712_module
# The seed text is kept as written: no lint, no formatting.
# ruff: noqa
# fmt: off

# --- preamble: names the seed example uses without defining them ---
import torchmetrics

# --- seed example ---
# Monitor SSL representations with a linear probe
linear_probe = spt.callbacks.OnlineProbe(
    module,  # Pass the spt.Module instance
    name="linear_probe",  # Useful for retrieving metrics and values in logging
    input="embedding",  # Which output from forward to monitor
    target="label",      # Ground truth from batch
    probe=torch.nn.Linear(512, 10),
    loss_fn=torch.nn.CrossEntropyLoss(),
    metrics={
        "top1": torchmetrics.classification.MulticlassAccuracy(10),
        "top5": torchmetrics.classification.MulticlassAccuracy(10, top_k=5),
    },
)

# Track representation quality with KNN evaluation
knn_probe = spt.callbacks.OnlineKNN(
    name="knn_probe",
    input="embedding",
    target="label",
    queue_length=20000,
    k=10,
)
# --- end of seed example ---

# --- checks: what the example claims ---
import lightning

assert isinstance(linear_probe, lightning.Callback) and isinstance(knn_probe, lightning.Callback)

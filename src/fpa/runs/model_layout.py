"""The files of a model folder, by name (docs/design.md §9)."""

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
SAMPLES_FILE = "samples.png"
TRAINING_FILE = "training.toml"
MODEL_FILES = (CONFIG_FILE, WEIGHTS_FILE, CARD_FILE, SAMPLES_FILE, TRAINING_FILE)

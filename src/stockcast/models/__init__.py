"""The pure-torch network (`net`) and its LightningModule (`forecaster`), kept apart so that
loading a model for prediction never imports Lightning."""

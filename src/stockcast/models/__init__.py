"""Model kinds and the network every kind serves through. Pure PyTorch and NumPy: no Lightning,
so a served model (which ships these modules) never imports it."""

"""The reproduction harness: claims registry, result recorder and the pytest plugin."""

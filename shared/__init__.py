"""Shared code for the VAE benchmark notebooks: data, backbone, registry, training, metrics, results."""

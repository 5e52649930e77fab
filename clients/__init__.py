"""What runs on a device: forecaster, private data stream, local training, Flower ClientApp."""

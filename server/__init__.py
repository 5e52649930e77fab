"""What runs in the cloud: Flower ServerApp, round coordinator in simulated time, strategies, selection."""

"""Machine learning: the split, the model families (a registry), the training workflow,
ranges, the backtest and the valuation model."""

"""hal_sim."""

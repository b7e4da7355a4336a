"""What the operators see beyond the pages: alerts (webhook), metrics (Prometheus), logs."""

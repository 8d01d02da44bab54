"""What segdbg says about an event: findings, naming lint, semantic specs, tracking plans, inventory."""

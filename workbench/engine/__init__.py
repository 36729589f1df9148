"""The engine: desired state (the specs) and observed state (instances, health, events) in one
store, a pure reconcile step, and a supervisor that applies its actions."""

"""What the companion does about events: buzzer nudges (and, later, ramping the incline down)."""

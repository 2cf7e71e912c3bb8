"""What each nudge says: the reason and the advice, in one sentence, from the articles in shared/seeds."""

MESSAGES = {
    "rail_lean": "You're leaning on the rails: that strains your upper back and shoulders. "
                 "Let go, stand tall and let your arms swing.",
    "rail_hold": "You've been holding the rails for a minute: it hunches your shoulders and upper back. "
                 "Slow down if you need to and walk hands-free.",
    "steep_incline": "A steep incline held this long loads your lower back. "
                     "Lower the incline for a while and keep your posture upright.",
    "speed_jump": "That was a sudden speed jump: sudden changes on a moving belt cause falls and strain. "
                  "Change speed gradually.",
    "no_warmup": "Warm up first: walk briskly for 5 to 10 minutes before you go fast or steep.",
    "abrupt_stop": "You stopped straight from a fast pace: walk slowly for a few minutes to cool down "
                   "so your back muscles don't tighten.",
    "sensor_fault": "A sensor isn't giving valid readings, so the companion can't watch that for you: "
                    "check its wiring.",
    "unattended_belt": "The belt is running and nobody is walking on it: stop the belt now with the safety key "
                       "(or the STOP button) before anyone steps on.",
    "overstride": "Long, slow strides at this speed land hard: take shorter, quicker steps to ease the load "
                  "on your back and joints.",
}

ENDED = {
    "rail_lean": "Hands off the rails: good posture.",
    "rail_hold": "Walking hands-free again.",
    "steep_incline": "Incline eased off.",
    "sensor_fault": "The sensor reads valid values again.",
    "unattended_belt": "Someone is walking on the belt again, or it has stopped.",
    "overstride": "Quicker, shorter steps again.",
}

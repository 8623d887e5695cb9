"""timctl: the command line for the timkit admin API (robots, bot friends, messages, broadcasts)
and for signed test callbacks. ``timctl --help`` lists the commands."""

"""Flask-free logic: tokens, codes, address rules, delivery policy. Everything that varies is passed in."""

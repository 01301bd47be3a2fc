"""Views: leaderboard (model, build, render), web page, compare, report, plots, model cards, tables."""

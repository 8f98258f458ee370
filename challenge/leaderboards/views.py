from flask import Blueprint

bp = Blueprint("leaderboards", __name__)

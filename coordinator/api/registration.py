from flask_smorest import Blueprint

blp = Blueprint("api_registration", __name__, description="Registration progress per province")

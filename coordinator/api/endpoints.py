from flask_smorest import Blueprint

blp = Blueprint("api_endpoints", __name__, description="Endpoints (điểm cầu) and their contacts")

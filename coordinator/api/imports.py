from flask_smorest import Blueprint

blp = Blueprint("api_imports", __name__, description="Spreadsheet import of endpoints and contacts")

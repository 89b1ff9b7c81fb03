"""The dashboard's server (:3000): the built React app (frontend/dist) and where the gateway is."""

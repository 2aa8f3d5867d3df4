print("aq")

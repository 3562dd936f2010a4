"""(stage under construction; see docs/)"""

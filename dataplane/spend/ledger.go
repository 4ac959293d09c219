package spend

from nodebyte_hytale_auth.app import main

main()

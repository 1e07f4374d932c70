from nodebyte_gateway.app import main

main()

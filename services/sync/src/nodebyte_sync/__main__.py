from nodebyte_sync.app import main

main()

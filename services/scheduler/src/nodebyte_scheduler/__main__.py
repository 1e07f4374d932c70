from nodebyte_scheduler.app import main

main()

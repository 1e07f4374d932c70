from nodebyte_notifier.app import main

main()

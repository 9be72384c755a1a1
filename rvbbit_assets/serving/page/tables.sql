-- The analytics tables there are (the page needs PAGE_TABLES).
SELECT name FROM system.tables WHERE database = {db:String}

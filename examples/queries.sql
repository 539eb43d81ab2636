-- DuckDB queries over a newsflow output root (replace 'news' with your --output).
-- Run with: duckdb -c ".read examples/queries.sql"  or paste into newsflow query.

-- Unique articles per language and day
select date, lang, count(*) as articles
from read_parquet('news/articles/**/*.parquet', hive_partitioning = true)
where duplicate_of is null
group by all order by date desc, articles desc;

-- Copy groups with their members
select copy_group_id, count(*) as members, list(distinct language) as languages,
       min(published_at) as first_published, list(url order by published_at) as urls
from read_parquet('news/articles/**/*.parquet', hive_partitioning = true)
group by 1 having count(*) > 1 order by members desc;

-- Why inputs were rejected, per run
select run_id, stage, reason, count(*) as n, any_value(detail) as example
from read_parquet('news/rejects/**/*.parquet', hive_partitioning = true)
group by all order by run_id desc, n desc;

-- Sources by volume
select source_domain, count(*) as articles, avg(word_count)::int as avg_words
from read_parquet('news/articles/**/*.parquet', hive_partitioning = true)
group by 1 order by 2 desc limit 20;

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

-- The three analyses of `newsflow report` (README "Report"). These read every file under the
-- root, while `newsflow query ROOT "..."` (views `articles`...) reads committed runs only.

-- Stories covered in the most languages, with the first appearance per language
with per_lang as (
    select story_id, language, min(published_at) as first_at, count(*) as n
    from read_parquet('news/articles/**/*.parquet', hive_partitioning = true)
    where story_id is not null group by all)
select story_id, count(*) as languages, sum(n) as articles,
       list(language || ' ' || strftime(first_at, '%Y-%m-%d %H:%M') order by first_at)
           as first_per_language
from per_lang group by 1 having count(*) > 1
order by languages desc, articles desc limit 10;

-- Time from original to translation, per language pair (hours)
with a as (select * from read_parquet('news/articles/**/*.parquet', hive_partitioning = true))
select o.language || ' → ' || c.language as pair, count(*) as translations,
       round(median(epoch(c.published_at) - epoch(o.published_at)) / 3600, 1) as median_hours,
       round(min(epoch(c.published_at) - epoch(o.published_at)) / 3600, 1) as fastest_hours
from a c join a o on o.article_id = c.duplicate_of
where c.dup_kind = 'translation'
group by 1 order by translations desc, pair;

-- Top republishing domains: who copies most, and from whom
with a as (select * from read_parquet('news/articles/**/*.parquet', hive_partitioning = true))
select c.source_domain as copier, o.source_domain as original_site, count(*) as copies,
       count(distinct c.language) as languages
from a c join a o on o.article_id = c.duplicate_of
group by all order by copies desc limit 20;

-- A plain glob reads every revision of an article (and can see a commit in progress, see
-- README "What a run guarantees"). The articles view of newsflow query is the latest revision:
select article_id, url, revision, title
from read_parquet('news/articles/**/*.parquet', hive_partitioning = true, union_by_name = true)
qualify row_number() over (partition by article_id
                           order by coalesce(revision, 1) desc, fetched_at desc) = 1;

-- Articles whose text changed, with how often
select article_id, any_value(url) as url, max(revision) as revisions
from read_parquet('news/articles/**/*.parquet', hive_partitioning = true, union_by_name = true)
group by 1 having max(revision) > 1 order by revisions desc;
